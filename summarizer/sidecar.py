"""The JSON sidecar beside each digest: one typed Record per paper and the document's version.

digest.py writes it (and reads it back to resume); dataset.py reads it to build training examples.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from summarizer import SummarizerError

# 1: the first records; 2: records carry "repairs" and "status", and were judged by the copy/duplicate/grounding
# rules of the multilingual issue; 3: records carry "example" (the example paper the prompt showed), judged by the
# derived topic, heading, fragment and broken-word rules; 4: records carry "rounds" (engine rounds spent) and the
# provenance names the rules' version (validate.RULES_VERSION). An older record reads as a version-4 one with no
# repairs, example or rounds; digest validates it again before reusing it. A newer version is refused.
VERSION = 4


@dataclass
class Record:
    """One paper's entry. Mutable: a later pass may reject a valid record as another paper's duplicate."""

    fields: dict | None  # parsed and repaired fields; None when the reply had no layout or nothing was generated
    raw: str | None  # the model's reply as written; None when nothing was generated
    problems: list[dict]  # {"rule", "message"} per failed validation rule; [] = valid
    repairs: list[str] = field(default_factory=list)  # layout fixes made without the model (validate.repair)
    status: str = "generated"  # "generated", or "no-abstract": the paper had none and was never sent to the model
    attempt: int = 0  # 0 = the greedy first pass; retries sample with the seed in `sampling`
    sampling: dict | None = None  # {"temperature", "top_p", "seed"} of a sampled retry; None = greedy
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0  # this paper's share of its batch's generation time
    truncated: bool = False  # the abstract was shortened to fit
    finished: bool = True  # the reply ended by itself (EOS, stop string, line limit), not at max_new_tokens
    example: str = ""  # name of the example paper whose reply the prompt showed (styles.ExamplePaper.name); "" = none
    rounds: int = 0  # engine rounds the paper took part in over all its passes and redraws (0: not recorded)
    passes: int = 0  # passes over the paper: 1 = the first alone, 3 = two retries (0: not recorded)

    @property
    def valid(self) -> bool:
        return bool(self.fields) and not self.problems

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> Record:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown or not {"fields", "raw", "problems"} <= set(d):
            raise SummarizerError(f"The sidecar record {where} is not a digest record "
                                  f"(unknown keys {unknown}, or no fields/raw/problems).")
        return cls(**d)


def no_abstract() -> Record:
    """A paper without an abstract: nothing generated, and not a failure (no problems)."""
    return Record(fields=None, raw=None, problems=[], status="no-abstract")


def document(date: str, style: str, written_at: str, provenance: dict, papers: list[dict],
             records: dict[str, Record], selection: dict | None = None) -> str:
    """The sidecar's JSON text. `selection`: the rules that chose `papers` and what each left out (None: all)."""
    doc = {"version": VERSION, "date": date, "style": style, "written_at": written_at, "provenance": provenance,
           "selection": selection, "papers": papers, "records": {pid: r.to_dict() for pid, r in records.items()}}
    return json.dumps(doc, ensure_ascii=False, indent=1)


def records(doc: dict, source: str | Path = "") -> dict[str, Record]:
    """The typed records of a parsed sidecar document; a clear error for a version this code cannot read."""
    version = doc.get("version", 1)
    if not isinstance(version, int) or version > VERSION:
        raise SummarizerError(f"The sidecar {source} has version {version!r}; this summarizer reads versions up to "
                              f"{VERSION}: upgrade it.")
    raw = doc.get("records", {})
    if not isinstance(raw, dict):
        raise SummarizerError(f"The sidecar {source} has no records mapping.")
    return {pid: Record.from_dict(r, f"{source}#{pid}") for pid, r in raw.items()}
