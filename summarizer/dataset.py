"""Training data from earlier digests: parse every digest (Markdown, our JSON sidecars, or daily-arXiv-ai-enhanced
JSONL), join each paper with its abstract, and save a `datasets` DatasetDict (+ JSONL) whose prompt is the style's
inference prompt and whose completion is the structured reply the style's parser accepts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from summarizer import SummarizerError, archive, sidecar
from summarizer.papers import Paper, normalize_id
from summarizer.prompt import OutputFormatError, build_prompt, format_output, parse_output
from summarizer.quality import flaws
from summarizer.readback import ParsedEntry, parse_markdown
from summarizer.styles import SCORE_LABELS, STYLES, Style
from summarizer.text import one_line
from summarizer.validate import validate

log = logging.getLogger(__name__)

COLUMNS = ("id", "style", "title", "date", "prompt", "system", "user", "abstract", "completion", "reference",
           "fields", "source", "writer", "attempt", "prompt_version")
ENHANCED_WRITER = "daily-arXiv-ai-enhanced (a large API model)"  # who wrote the JSONL rows' summaries
DIGEST_SUFFIXES = (".md", ".markdown", ".txt")


# ---- the structured target: prompt.format_output, the exact layout parse_output reads back

def canonical(style: Style, fields: dict) -> dict:
    """The fields as the parser gives them back from the target (so parse_output(format_output(x)) == x)."""
    return parse_output(style, format_output(style, fields))


def reference_text(style: Style, fields: dict) -> str:
    """The prose of the fields as plain text, one item per line, no markers: what chrF/ROUGE compare."""
    lines = []
    for f in style.fields:
        value = fields.get(f.name)
        if isinstance(value, dict):
            lines += [f"{label} {value[k]['score']}: {value[k]['reason']}" for k, label in SCORE_LABELS.items()
                      if isinstance(value.get(k), dict)]
        elif isinstance(value, list):
            lines += [str(v) for v in value]
        elif value:
            lines.append(str(value))
    return "\n".join(lines)


# ---- reading digests

def digest_files(paths: list[str | Path]) -> list[Path]:
    """Digest pages, sidecars and JSONL files under the given files/dirs; a `<date>.md` with a `<date>.json` beside
    it is read from the sidecar (exact fields), never twice."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(x for x in p.rglob("*") if x.is_file()
                            and x.suffix in (*DIGEST_SUFFIXES, ".json", ENHANCED_SUFFIX)
                            and x.name != "README.md" and not x.name.startswith("."))
        elif p.is_file():
            found.append(p)
        else:
            raise SummarizerError(f"The digest path {p} does not exist.")
    sidecars = {x.with_suffix("") for x in found if x.suffix == ".json"}
    return [x for x in found if x.suffix in (".json", ENHANCED_SUFFIX) or x.with_suffix("") not in sidecars]


def parse_sidecar(doc: dict, source: str = "") -> list[tuple[ParsedEntry, Paper]]:
    """A digest's JSON sidecar → (entry, its archived Paper) per paper; failed/repeated papers carry `skip`."""
    style = doc.get("style")
    if style not in STYLES or not isinstance(doc.get("papers"), list):
        raise SummarizerError(f"The sidecar {source} is not a digest sidecar (no known style or papers list).")
    records = sidecar.records(doc, source)
    prov = doc.get("provenance") if isinstance(doc.get("provenance"), dict) else {}
    writer, version = model_label(prov.get("model")), str(prov.get("prompt_version") or "")
    out = []
    for n, d in enumerate(doc["papers"], 1):
        paper = Paper.from_dict(d)
        rec = records.get(paper.id)
        skip = ("already digested on an earlier day" if paper.repeat_of else
                "not generated" if rec is None else
                "no abstract, so no summary" if rec.status == "no-abstract" else
                "failed validation in the digest (" + ", ".join(sorted({p["rule"] for p in rec.problems})) + ")"
                if rec.problems else "no parsed fields" if not rec.fields else None)
        entry = ParsedEntry(paper.id, paper.title, style, doc.get("date"), (rec and rec.fields) or {},
                            f"{source}#{n}", skip=skip, writer=writer, attempt=rec.attempt if rec else None,
                            prompt_version=version)
        out.append((entry, paper))
    return out


def model_label(model) -> str:
    """A sidecar's model provenance as one short label: preset (or file name) and the first 12 hex digits of its
    sha256, or its HF revision."""
    if not isinstance(model, dict):
        return ""
    name = model.get("preset") or Path(str(model.get("model") or model.get("path") or "")).name
    pin = (model.get("sha256") or "")[:12] or model.get("revision") or ""
    return f"{name} ({pin})" if pin else str(name)


# ---- daily-arXiv-ai-enhanced JSONL: summaries a large API model wrote, one paper per line, abstract included

ENHANCED_SUFFIX = ".jsonl"
ENHANCED_STYLE = "zh-tldr"  # the style whose fields are the rows' "AI" keys (tldr, motivation, method, result, ...)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _enhanced_row(row: dict, day: str | None, source: str) -> tuple[ParsedEntry, Paper]:
    """One JSONL row → (zh-tldr entry, its Paper with the row's own abstract); `skip` says why a row gives none."""
    st = STYLES[ENHANCED_STYLE]
    pid = normalize_id(str(row.get("id") or "")) or str(row.get("id") or "") or None
    title = one_line(row.get("title") or "")
    date = row["date"] if isinstance(row.get("date"), str) and _DAY.fullmatch(row["date"]) else day
    # arXiv abstracts come with hard line breaks every ~80 characters: one paragraph, as Paper.abstract always is.
    abstract = " ".join(str(row.get("summary") or "").split())
    ai = row.get("AI") if isinstance(row.get("AI"), dict) else {}
    # One paragraph per field: a line break could start a line with a section marker and split the target.
    fields = {f.name: one_line(v) for f in st.fields if isinstance(v := ai.get(f.name), str) and v.strip()}
    missing = [f.name for f in st.fields if f.name not in fields]
    why = []
    if missing:
        why.append(f"the AI summary lacks {', '.join(missing)}")
    if not abstract:
        why.append("the abstract (summary) is empty")
    authors = tuple(str(a) for a in row.get("authors") or () if a) if isinstance(row.get("authors"), list) else ()
    paper = Paper(id=pid or "", title=title, abstract=abstract, date=date or "", authors=authors, source=source)
    entry = ParsedEntry(pid, title, st.name, date, fields, source, skip="; ".join(why) or None,
                        writer=ENHANCED_WRITER)
    return entry, paper


def parse_enhanced(text: str, name: str = "") -> list[tuple[ParsedEntry, Paper | None]]:
    """A daily-arXiv-ai-enhanced JSONL file (`2026-05-12_AI_enhanced_Chinese.jsonl`, one paper per line with `id`,
    `title`, `authors`, `summary` = the arXiv abstract and `AI` = {tldr, motivation, method, result, conclusion})
    → (zh-tldr entry, Paper) per row. The day is the row's `date`, else the one in the file name. A line that is no
    such row is skipped with its reason; a file with none at all is an error (it is some other JSONL)."""
    day = m.group(0) if (m := _DAY.search(Path(name).name)) else None
    out: list[tuple[ParsedEntry, Paper | None]] = []
    shaped = 0
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        source = f"{name}#{n}"
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict) or not row.get("id") or ("AI" not in row and "summary" not in row):
            out.append((ParsedEntry(None, "", ENHANCED_STYLE, day, {}, source,
                                    skip="not a daily-arXiv-ai-enhanced row (a JSON object with id, title, summary and AI)"),
                        None))
            continue
        shaped += 1
        out.append(_enhanced_row(row, day, source))
    if not shaped:
        raise SummarizerError(f"The JSONL file {name} has no daily-arXiv-ai-enhanced rows (JSON objects with id, "
                              "title, summary and AI).")
    return out


def read_digest(path: Path, style: str | None = None) -> list[tuple[ParsedEntry, Paper | None]]:
    """One file → entries (+ the Paper when a sidecar or JSONL row has it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SummarizerError(f"The digest file {path} cannot be read ({exc}).") from None
    if path.suffix == ENHANCED_SUFFIX:
        return parse_enhanced(text, str(path))
    if path.suffix == ".json":
        try:
            doc = json.loads(text)
        except ValueError:
            raise SummarizerError(f"The sidecar {path} is not valid JSON.") from None
        return parse_sidecar(doc, str(path))
    hint = style or (path.parent.name if path.parent.name in STYLES else None)
    return [(e, None) for e in parse_markdown(text, hint, str(path), path.name)]


# ---- joining with abstracts

def _norm_title(title: str) -> str:
    return re.sub(r"[\W_]+", "", title.lower())


class Papers:
    """Lookup of archived papers by id and by (date, title); the whole archive is indexed on first miss."""

    def __init__(self, home: Path | None = None):
        self.home = home
        self.by_day: dict[str, list[Paper]] = {}
        self.all: dict[str, Paper] | None = None

    def day(self, date: str | None) -> list[Paper]:
        if not date:
            return []
        if date not in self.by_day:
            try:
                self.by_day[date] = archive.load_papers(date, self.home) or []
            except SummarizerError:
                self.by_day[date] = []
        return self.by_day[date]

    def find(self, pid: str | None, title: str, date: str | None) -> Paper | None:
        for p in self.day(date):
            if p.id == pid or (pid is None and _norm_title(p.title) == _norm_title(title)):
                return p
        if self.all is None:
            self.all = {}
            root = (self.home or archive.home()) / "archive"
            for d in sorted(root.glob("????-??-??")) if root.is_dir() else []:
                for p in self.day(d.name):
                    self.all.setdefault(p.id, p)
        if pid:
            return self.all.get(pid)
        return next((p for p in self.all.values() if _norm_title(p.title) == _norm_title(title)), None)


def arxiv_abstracts(papers: list[Paper]) -> dict[str, Paper]:
    """The arXiv fallback for papers with no abstract: id → completed Paper (empty when arXiv is unavailable)."""
    from summarizer.fetch import FetchConfig, complete_abstracts

    filled, _ = complete_abstracts(papers, FetchConfig())
    return {p.id: p for p in filled if p.abstract}


# ---- the split and the build

def split_of(pid: str, validation_share: float = 0.1) -> str:
    """"train" or "validation", fixed per paper id (a hash, not a random draw), so reruns never leak across."""
    bucket = int(hashlib.sha256(pid.encode("utf-8")).hexdigest()[:8], 16) / 2**32
    return "validation" if bucket < validation_share else "train"


SPLITS_BY = ("id", "day")  # "id": a hash of the arXiv id; "day": whole days held out (days the model never saw)


def held_out_days(days: set[str], validation_share: float = 0.1, chosen: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The validation days of a split by day: `chosen` when given (each must be among `days`), else the latest
    share of the days (rounded up; never every day unless the share is 1): a model trained on the past is then
    measured on later days, as it will be used."""
    if chosen:
        if absent := sorted(set(chosen) - days):
            have = ", ".join(sorted(days)) or "none"
            raise SummarizerError(f"No record is from the validation day {absent[0]} (the records' days: {have}).")
        return tuple(sorted(set(chosen)))
    ordered = sorted(days)
    if validation_share <= 0 or not ordered:
        return ()
    n = len(ordered) if validation_share >= 1 else min(math.ceil(validation_share * len(ordered)), len(ordered) - 1)
    return tuple(ordered[len(ordered) - n:]) if n else ()


def check_split(split_by: str, validation_days: tuple[str, ...] = ()) -> None:
    """A known split, and validation days (real YYYY-MM-DD days) only with the split by day."""
    if split_by not in SPLITS_BY:
        raise SummarizerError(f"Unknown split {split_by!r}; choose one of: {', '.join(SPLITS_BY)}.")
    if validation_days and split_by != "day":
        raise SummarizerError("Validation days need the split by day (--split-by day).")
    for day in validation_days:
        archive.validate_date(day)


def split_rows(rows: list[dict], validation_share: float = 0.1, split_by: str = "id",
               validation_days: tuple[str, ...] = ()) -> tuple[dict[str, list[dict]], tuple[str, ...]]:
    """({"train": rows, "validation": rows}, the held-out days) by id hash or by day; a row with no day is
    always in train under the split by day (no day can be held out for it)."""
    check_split(split_by, validation_days)
    days: tuple[str, ...] = ()
    if split_by == "day":
        days = held_out_days({r["date"] for r in rows if r.get("date")}, validation_share, tuple(validation_days))
    parts: dict[str, list[dict]] = {"train": [], "validation": []}
    for r in rows:
        held = r.get("date") in days if split_by == "day" else split_of(r["id"], validation_share) == "validation"
        parts["validation" if held else "train"].append(r)
    return parts, days


@dataclass
class BuildReport:
    parsed: int = 0  # paper entries read from the digests
    joined: int = 0  # entries that became examples (abstract found, target valid)
    splits: dict = field(default_factory=dict)  # split name → examples
    skipped: list = field(default_factory=list)  # (source, id or title, reason)
    notes: list = field(default_factory=list)  # lossy changes kept (e.g. 4.5 rounded to 5)
    out_dir: str = ""
    split_by: str = "id"  # "id" or "day" (see SPLITS_BY)
    validation_days: tuple = ()  # the days held out by the split by day

    writers: dict = field(default_factory=dict)  # who wrote the examples (ParsedEntry.writer) → examples

    def summary(self) -> str:
        split = ", ".join(f"{k} {v}" for k, v in self.splits.items())
        if self.split_by == "day":
            split += f"; validation days: {', '.join(self.validation_days) or 'none'}"
        written = "; written by " + ", ".join(f"{w or 'unknown (published pages)'} {n}"
                                              for w, n in self.writers.items()) if self.writers else ""
        return f"{self.parsed} parsed, {self.joined} joined ({split}), {len(self.skipped)} skipped{written}"


def example(st: Style, entry: ParsedEntry, paper: Paper, tokenizer=None,
            check: bool = True) -> tuple[dict | None, str | None]:
    """One training row, or (None, why not). `check`: the reference must pass the style's validation and carry no
    flaw a reader would not keep (quality.flaws, judged against the example reply its training prompt shows)."""
    try:
        fields = canonical(st, entry.fields)
    except OutputFormatError as exc:
        return None, f"no usable fields ({exc})"
    problems = validate(st, fields, paper) if check else []
    if problems:
        return None, "reference fails validation: " + "; ".join(f"{p.rule}: {p.message}" for p in problems[:2])
    prompt = build_prompt(st, paper)
    if check and (bad := flaws(st, fields, paper, example=prompt.shots[0][1] if prompt.shots else "")):
        return None, "reference has a flaw a reader would not keep: " + "; ".join(bad[:2])
    chat = ""
    if tokenizer is not None:
        from summarizer.engine import chat_text

        chat = chat_text(tokenizer, prompt)
    return {
        "id": paper.id, "style": st.name, "title": paper.title, "date": entry.date or paper.date,
        "prompt": chat, "system": prompt.system, "user": prompt.user, "abstract": prompt.abstract,
        "completion": format_output(st, fields), "reference": reference_text(st, fields),
        "fields": json.dumps(fields, ensure_ascii=False), "source": entry.source, "writer": entry.writer,
        "attempt": "" if entry.attempt is None else str(entry.attempt), "prompt_version": entry.prompt_version,
    }, None


def build_examples(paths: list[str | Path], *, style: str | None = None, tokenizer=None, home: Path | None = None,
                   arxiv: bool = True, check: bool = True) -> tuple[list[dict], BuildReport]:
    """Parse, join and validate; every entry is either one example or one skip with its reason."""
    if style is not None and style not in STYLES:
        raise SummarizerError(f"Unknown style {style!r}; choose one of: {', '.join(sorted(STYLES))}.")
    report = BuildReport()
    pairs: list[tuple[ParsedEntry, Paper | None]] = []
    for path in digest_files(paths):
        try:
            got = read_digest(path, style)
        except SummarizerError as exc:
            report.skipped.append((str(path), "", str(exc)))
            continue
        pairs += [(e, p) for e, p in got if style is None or e.style == style]
    report.parsed = len(pairs)
    lookup = Papers(home)
    joined: list[tuple[ParsedEntry, Paper | None]] = []
    for entry, paper in pairs:
        if entry.skip:
            report.skipped.append((entry.source, entry.id or entry.title, entry.skip))
            continue
        paper = paper if paper and paper.abstract else lookup.find(entry.id, entry.title, entry.date) or paper
        joined.append((entry, paper))
    missing = [p or Paper(e.id, e.title, "", e.date or "") for e, p in joined if not (p and p.abstract) and e.id]
    fetched = arxiv_abstracts(missing) if arxiv and missing else {}
    rows: list[dict] = []
    seen: dict[tuple[str, str], str] = {}
    for entry, paper in joined:
        paper = fetched.get(entry.id or "", paper)
        what = entry.id or entry.title
        if paper is None and entry.id is None:
            report.skipped.append((entry.source, what, "no arXiv link, and no archived paper has this title"))
            continue
        if paper is None or not paper.abstract:
            why = "arXiv not asked (--no-arxiv)" if not arxiv else "arXiv has none or is unreachable"
            report.skipped.append((entry.source, what, f"no abstract: not in the archive and {why}"))
            continue
        if (paper.id, entry.style) in seen:
            report.skipped.append((entry.source, what, f"duplicate of {seen[paper.id, entry.style]}"))
            continue
        row, why = example(STYLES[entry.style], entry, paper, tokenizer, check)
        if row is None:
            report.skipped.append((entry.source, what, why))
            continue
        seen[paper.id, entry.style] = entry.source
        report.notes += [f"{entry.source} ({paper.id}): {n}" for n in entry.notes]
        rows.append(row)
    report.joined = len(rows)
    report.writers = dict(Counter(r["writer"] for r in rows).most_common())
    return rows, report


def save(rows: list[dict], out_dir: Path, validation_share: float = 0.1, *, split_by: str = "id",
         validation_days: tuple[str, ...] = ()) -> dict[str, int]:
    """DatasetDict(train, validation) via save_to_disk into out_dir, plus out_dir/<split>.jsonl; split sizes.
    The split is by id hash, or by day (see split_rows)."""
    from datasets import Dataset, DatasetDict, Features, Value

    features = Features({c: Value("string") for c in COLUMNS})
    parts, _ = split_rows(rows, validation_share, split_by, validation_days)
    # An empty split is left out: datasets cannot load a saved split with no rows.
    # writer, attempt and prompt_version are "" where unknown (rows built by other code than `example`).
    dd = DatasetDict({k: Dataset.from_dict({c: [r.get(c, "") for r in v] for c in COLUMNS}, features=features)
                      for k, v in parts.items() if v})
    out_dir.mkdir(parents=True, exist_ok=True)
    dd.save_to_disk(str(out_dir))
    for k in parts:  # JSON lines beside the Arrow files, for reading by eye or other tools
        if k in dd:
            dd[k].to_json(out_dir / f"{k}.jsonl", force_ascii=False)
        else:
            archive.write_atomic(out_dir / f"{k}.jsonl", "")
    return {k: len(v) for k, v in parts.items()}


def build_dataset(paths: list[str | Path], out_dir: str | Path, *, style: str | None = None, tokenizer=None,
                  home: Path | None = None, arxiv: bool = True, validation_share: float = 0.1,
                  check: bool = True, split_by: str = "id", validation_days: tuple[str, ...] = ()) -> BuildReport:
    """Digests → examples → `out_dir` (DatasetDict + train/validation JSONL + report.json); returns the counts."""
    check_split(split_by, validation_days)  # before any reading: a typo fails at once
    rows, report = build_examples(paths, style=style, tokenizer=tokenizer, home=home, arxiv=arxiv, check=check)
    if not rows:
        reasons = "; ".join(sorted({r for _, _, r in report.skipped}))[:300] or "no digest entries found"
        raise SummarizerError(f"No examples could be built from {', '.join(map(str, paths))} ({reasons}).")
    out = Path(out_dir)
    _, days = split_rows(rows, validation_share, split_by, validation_days)
    report.splits = save(rows, out, validation_share, split_by=split_by, validation_days=days)
    report.out_dir, report.split_by, report.validation_days = str(out), split_by, days
    doc = {"parsed": report.parsed, "joined": report.joined, "splits": report.splits,
           "skipped": [{"source": s, "paper": p, "reason": r} for s, p, r in report.skipped],
           "notes": report.notes, "validation_share": validation_share, "split_by": split_by,
           "validation_days": list(days), "undated": sum(not r.get("date") for r in rows), "writers": report.writers,
           "first_pass": sum(r["attempt"] == "0" for r in rows),
           "prompt_tokenizer": tokenizer.name_or_path if tokenizer is not None else None}
    archive.write_atomic(out / "report.json", json.dumps(doc, ensure_ascii=False, indent=1))
    return report


def load(out_dir: str | Path):
    """The DatasetDict saved by build_dataset; a one-line error when the directory is not one."""
    from datasets import load_from_disk

    try:
        return load_from_disk(str(out_dir))
    except (FileNotFoundError, ValueError) as exc:
        raise SummarizerError(f"{out_dir} is not a dataset built by `summarizer dataset` ({exc}).") from None
