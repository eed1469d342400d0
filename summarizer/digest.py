"""The main job, top to bottom: fetch → prompt → generate → validate → render → save, for one day and one style.

A JSON sidecar beside each digest keeps every paper's fields and provenance; it is rewritten after each batch, so a
killed run keeps what finished and a rerun reuses every validated summary.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from accelerate import PartialState

from summarizer import SummarizerError, archive, compose, engine, fetch, quality, sidecar
from summarizer.config import GenerationConfig, override
from summarizer.papers import Paper
from summarizer.prompt import assign_examples, build_prompt, example_for, repair_prompt
from summarizer.redraw import Drawn, best_of
from summarizer.render import Entry, render_digest, render_index
from summarizer.selection import Selection, select
from summarizer.sidecar import Record
from summarizer.styles import STYLES, Style
from summarizer.validate import RULES_VERSION, check_reply, duplicates, prose

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class DigestResult:
    path: Path  # the Markdown digest
    sidecar: Path  # its JSON sidecar
    papers: int  # papers listed (repeats included)
    repeats: int  # papers digested on an earlier day, listed as links
    reused: int  # validated summaries taken from an earlier run
    generated: int  # papers sent to the model in this run (first tries)
    valid: int  # papers whose summary passed validation (reused ones included)
    no_abstract: int  # papers with no abstract: never sent to the model, listed with their facts (not failures)
    failures: dict[str, int]  # rule -> papers still failing it after retries
    left_out: dict[str, int]  # selection rule -> papers of the day it left out (see selection.select)
    warnings: tuple[str, ...]  # said up front, e.g. a style the model does not write well
    quality: str = ""  # the style's quality signals in one line (quality.headline)
    defects: tuple[str, ...] = ()  # what is wrong with the day as a whole (quality.one_triple_day)
    rounds: int = 0  # engine rounds the papers generated in this run took, every retry and redraw included
    round_budget: int = 0  # the rounds each paper could take (GenerationConfig.round_budget)


def get_style(name: str) -> Style:
    if name not in STYLES:
        raise SummarizerError(f"Unknown style {name!r}; choose one of: {', '.join(sorted(STYLES))}.")
    return STYLES[name]


def digest_paths(date: str, style: str, home: Path | None = None) -> tuple[Path, Path]:
    base = (home or archive.home()) / "digests" / style
    return base / f"{date}.md", base / f"{date}.json"


def digest(
    date: str,
    style: str = "en-bullets",
    model: str | None = None,
    *,
    source: str = "hf",
    limit: int | None = None,
    force: bool = False,
    arxiv: bool = True,
    retries: int = 2,
    overrides: dict | None = None,
    load: dict | None = None,
    home: Path | None = None,
    lm: engine.LoadedModel | None = None,
    selection: Selection | None = None,
) -> DigestResult:
    """Write `$SUMMARIZER_HOME/digests/<style>/<date>.md` (+ `.json`) for the day's papers, and refresh the index."""
    st = get_style(style)
    state = PartialState()
    main = state.is_main_process
    # A cron job and a hand run of one day would race on its archive, sidecars and pages: the second run waits for
    # the first (then reuses its summaries). Only the main process locks: it alone writes, and under `accelerate
    # launch` the others wait for it in collective calls.
    with archive.day_lock(date, home) if main else contextlib.nullcontext():
        with state.main_process_first():  # under `accelerate launch` the others then read the day from the archive
            papers, left_out = select(fetch.collect(date, source, arxiv=arxiv, home=home), selection, limit)
        md_path, json_path = digest_paths(date, style, home)
        lm = lm or engine.load_model(model, **(load or {}))  # after the fetch: a bad day fails before a slow load
        config = generation_config(lm, st, overrides or {})
        warnings = style_warnings(st, lm)
        for w in warnings:
            log.warning("warning: %s", w)

        # id -> record; records are the sidecar's per-paper entries (see `record`). Which are reused is decided once,
        # on the main process (the sidecar is its own), and shared: every process then has the same todo list, as
        # engine.generate's split and gather need.
        records = {} if force else from_main(state, reusable_records(json_path, lm, st, papers) if main else None)
        fresh = [p for p in papers if p.repeat_of is None]
        reused = sum(1 for p in papers if p.id in records)
        # No abstract, no generation: the model has nothing to summarize and only echoes the prompt.
        bare = [p for p in fresh if not p.abstract and p.id not in records]
        records.update({p.id: sidecar.no_abstract() for p in bare})

        def save_progress() -> None:
            write_sidecar(json_path, date, st, lm, config, papers, records, chosen(selection, limit, left_out))

        todo = [p for p in fresh if p.id not in records]
        summarize(lm, st, config, todo, records, retries, save_progress if main else None)
        # Under `accelerate launch` every process has every result; one of them saves. A day that lists no paper (a
        # weekend, or filters that keep none) writes nothing: an empty page would hide or replace a day's digest.
        if main and papers:
            save_progress()
            archive.write_atomic(md_path, render_digest(st, date, [entry(p, records.get(p.id)) for p in papers]))
            # A paper without an abstract is not "digested": a later day may list it with one and summarize it.
            archive.mark_digested(date, [p.id for p in fresh if p.abstract], home=home)
            write_index(home)
    failures = Counter(rule for p in fresh if p.id in records for rule in {pr["rule"] for pr in records[p.id].problems})
    report = day_quality(date, st, papers, records)
    return DigestResult(
        path=md_path, sidecar=json_path, papers=len(papers), repeats=len(papers) - len(fresh), reused=reused,
        generated=len(fresh) - reused - len(bare), valid=sum(1 for p in fresh if p.id in records and records[p.id].valid),
        no_abstract=len(bare), failures=dict(failures), left_out=left_out, warnings=tuple(warnings),
        quality=quality.headline(report), defects=tuple(d for d in [quality.one_triple_day(report)] if d),
        rounds=sum(records[p.id].rounds for p in todo if p.id in records), round_budget=config.round_budget,
    )


def from_main(state: PartialState, value):
    """The main process's `value` on every process under `accelerate launch`; `value` itself when alone."""
    if state.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value], from_process=0)[0]


def day_quality(date: str, st: Style, papers: list[Paper], records: dict[str, Record]) -> dict:
    """The quality report of the day's records, as `summarizer quality` gives it for the saved sidecar."""
    doc = sidecar.document(date, st.name, "", {}, [p.to_dict() for p in papers], records)
    return quality.digest_quality(json.loads(doc))


def summarize(lm: engine.LoadedModel, st: Style, config: GenerationConfig, todo: list[Paper], records: dict[str, Record],
              retries: int, save: Callable[[], None] | None) -> None:
    """Generate, validate and retry until each paper of `todo` has a valid record, its retries are spent or its engine
    rounds (config.round_budget); a retry's record replaces the paper's only if it has fewer problems (best_of).
    `save` (the main process only) runs after every paper of the first pass and after every pass."""
    papers = {p.id: p for p in todo}
    # The examples spread over the papers written together; every pass shows a paper the same one.
    shown = assign_examples(st, todo) if st.shot and st.kind == "summary" else {}
    spent: dict[str, int] = {}  # engine rounds per paper, over all passes and their redraws
    passes: dict[str, int] = {}

    def draw(ids: list[str], attempt: int, _kept) -> list[Drawn]:
        batch = [papers[pid] for pid in ids]
        for pid in ids:
            passes[pid] = attempt + 1
        prompts, cfg = attempt_plan(st, batch, records, config, attempt, shown)
        new: dict[str, Record] = {}

        def on_result(i: int, gen: engine.Generation) -> None:
            new[batch[i].id] = record(st, batch[i], gen, attempt, cfg, shown.get(batch[i].id))
            if not attempt:  # a first pass is saved paper by paper; a retry's records once its pass has ended
                records[batch[i].id] = new[batch[i].id]
                if save:
                    save()

        gens = compose.write(lm, st, prompts, cfg, on_result=on_result, spent=spent)
        mark_duplicates(new, records)
        return [Drawn(new[pid], gen, len(new[pid].problems)) for pid, gen in zip(ids, gens, strict=True)]

    def keep(kept: dict[str, Drawn]) -> None:
        for pid, d in kept.items():
            records[pid] = dataclasses.replace(d.value, completion_tokens=d.gen.completion_tokens,
                                               seconds=round(d.gen.seconds, 3), rounds=spent.get(pid, 0),
                                               passes=passes[pid])
        if save:
            save()

    # A retry starts only when the paper has the rounds its pass takes at the least (one per section) left.
    best_of(list(papers), draw, retries, owner=str, spent=spent, budget=config.round_budget, engine_round=False,
            need=compose.least_rounds(st, lm), after=keep)


def attempt_plan(st: Style, todo: list[Paper], records: dict[str, Record], config: GenerationConfig, attempt: int,
                 shown: dict | None = None):
    """(prompts, config) for one pass over the papers still to do; `shown`: each paper's example (assign_examples).

    The first pass decodes greedily. A retry samples, seeded so that a rerun repeats it: resampling the same prompt
    repairs more failed summaries than a repair prompt does on small models. From the second retry on, the prompt
    also lists the rejected reply's problems (never the reply itself, which a model echoes back), except for
    translations: a translator translates the listed problems into the reply, so a translation's retries only
    resample.
    """
    shown = shown or {}
    if attempt == 0:
        return [build_prompt(st, p, shown.get(p.id)) for p in todo], config
    cfg = dataclasses.replace(config, do_sample=True, temperature=0.7, top_p=0.9, seed=config.seed + attempt)
    if attempt == 1 or st.kind == "translate":
        return [build_prompt(st, p, shown.get(p.id)) for p in todo], cfg
    return [repair_prompt(st, p, records[p.id].problems, shown.get(p.id)) for p in todo], cfg


def mark_duplicates(new: dict[str, Record], records: dict[str, Record]) -> None:
    """New valid summaries nearly identical to another paper's are rejected (a model that ignored its abstract): both
    of two new ones; only the new one of a new one and a valid record kept from before."""
    others = {pid: prose(r.fields) for pid, r in records.items() if r.valid and pid not in new}
    fresh = {pid: prose(r.fields) for pid, r in new.items() if r.valid}
    for pid, problem in duplicates({**others, **fresh}).items():
        if pid in fresh:
            new[pid].problems = [dataclasses.asdict(problem)]


def generation_config(lm: engine.LoadedModel, st: Style, overrides: dict) -> GenerationConfig:
    """The preset's generation settings, the style's token allowance, then the user's flags (in that order)."""
    return override(dataclasses.replace(lm.generation, max_new_tokens=st.max_new_tokens), **overrides)


def style_warnings(st: Style, lm: engine.LoadedModel) -> list[str]:
    langs = lm.languages
    if langs and st.language not in langs:
        return [
            f"Model {lm.provenance.get('model')} is listed for {', '.join(langs)} only; style {st.name} needs "
            f"{st.language} — expect failed validation, or pass --model with a model that writes {st.language}."
        ]
    return []


def record(st: Style, paper: Paper, gen: engine.Generation, attempt: int, cfg: GenerationConfig,
           shown=None) -> Record:
    """One paper's sidecar entry: parsed fields, the raw reply, its problems and the generation's counters; `shown`:
    the example paper its prompt showed (None: none, or build_prompt's default)."""
    checked = check_reply(st, gen.text, paper)
    return Record(
        fields=checked.fields, raw=gen.text, problems=[dataclasses.asdict(p) for p in checked.problems],
        repairs=checked.repairs, attempt=attempt,
        sampling={"temperature": cfg.temperature, "top_p": cfg.top_p, "seed": cfg.seed} if cfg.do_sample else None,
        prompt_tokens=gen.prompt_tokens, completion_tokens=gen.completion_tokens, seconds=round(gen.seconds, 3),
        truncated=gen.truncated, finished=gen.finished, example=getattr(shown or example_shown(st, paper), "name", ""),
    )


def example_shown(st: Style, paper: Paper):
    """The example paper a prompt built for this paper alone shows (None for a style that shows none)."""
    return example_for(st, paper)[1] if st.shot and st.kind == "summary" else None


def entry(paper: Paper, rec: Record | None) -> Entry:
    if paper.repeat_of is None and rec is not None and rec.status == "no-abstract":
        return Entry(paper, None, None, no_abstract=True)
    if paper.repeat_of is not None or rec is None:
        return Entry(paper, None, None if paper.repeat_of else "not generated")
    if rec.problems:
        return Entry(paper, None, "; ".join(f"{p['rule']}: {p['message']}" for p in rec.problems[:2]))
    return Entry(paper, rec.fields, None)


def provenance(st: Style, lm: engine.LoadedModel, config: GenerationConfig) -> dict:
    return {
        "model": dict(lm.provenance),
        "style": st.name,
        "prompt_version": st.prompt_version,
        "rules": RULES_VERSION,
        "generation": dataclasses.asdict(config),
    }


def reusable_records(json_path: Path, lm: engine.LoadedModel, st: Style, papers: list[Paper]) -> dict[str, Record]:
    """Valid records of an earlier run of the same day, style, model and prompt version; else nothing. Written under
    other rules (another RULES_VERSION, or an older sidecar), each reply is validated again against its paper first,
    and only those valid now are reused (with the fields and problems of today's rules)."""
    if not json_path.exists():
        return {}
    try:
        old = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        log.warning("Ignoring unreadable sidecar %s; every paper is summarized again.", json_path)
        return {}
    prov = old.get("provenance", {})
    same = prov.get("model") == dict(lm.provenance) and prov.get("prompt_version") == st.prompt_version
    if not same:
        return {}
    try:
        records = sidecar.records(old, json_path)
    except SummarizerError as exc:
        log.warning("Ignoring sidecar %s (%s); every paper is summarized again.", json_path, exc)
        return {}
    if prov.get("rules") == RULES_VERSION and old.get("version") == sidecar.VERSION:
        return {pid: rec for pid, rec in records.items() if rec.valid}
    by_id = {p.id: p for p in papers}
    again = {pid: revalidated(st, rec, by_id[pid]) for pid, rec in records.items() if rec.raw and pid in by_id}
    kept = {pid: rec for pid, rec in again.items() if rec.valid}
    log.info("Sidecar %s was validated by other rules: %d of its %d replies pass today's and are reused.",
             json_path, len(kept), len(again))
    return kept


def revalidated(st: Style, rec: Record, paper: Paper) -> Record:
    """The record with its reply validated again by today's rules."""
    checked = check_reply(st, rec.raw, paper)
    return dataclasses.replace(rec, fields=checked.fields, problems=[dataclasses.asdict(p) for p in checked.problems],
                               repairs=checked.repairs)


def chosen(selection: Selection | None, limit: int | None, left_out: dict[str, int]) -> dict:
    """The sidecar's record of the selection: its rules, the --limit, and how many papers each rule left out."""
    return {**(selection or Selection()).to_dict(), "limit": limit, "left_out": left_out}


def write_sidecar(path: Path, date: str, st: Style, lm, config, papers: list[Paper], records: dict[str, Record],
                  selection: dict | None = None) -> None:
    archive.write_atomic(path, sidecar.document(
        date, st.name, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), provenance(st, lm, config),
        [p.to_dict() for p in papers], records, selection))


def write_index(home: Path | None = None) -> Path:
    """Rebuild `digests/README.md` from the digests on disk (newest first), so it never drifts from them."""
    with archive.index_lock(home):  # runs of other days list and write it too
        return _write_index((home or archive.home()) / "digests")


def _write_index(root: Path) -> Path:
    rows = []
    for md in root.glob("*/*.md"):
        count = 0
        side = md.with_suffix(".json")
        if side.exists():
            try:
                count = len(json.loads(side.read_text(encoding="utf-8")).get("papers", []))
            except (OSError, json.JSONDecodeError):
                pass
        rows.append((md.stem, md.parent.name, f"{md.parent.name}/{md.name}", count))
    index = root / "README.md"
    archive.write_atomic(index, render_index(rows))
    return index
