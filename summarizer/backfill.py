"""Backfill: digest every day of a range with one model load, each day's outcome kept, a failed day never fatal.

A day is "done" when its sidecar was written by the same model and prompt version and holds a record for every
paper the archived day lists (a failed summary's record included): a rerun of the range generates nothing for it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from summarizer import SummarizerError, archive, digest, engine, sidecar
from summarizer.selection import select
from summarizer.text import one_line
from summarizer.validate import RULES_VERSION

MAX_DAYS = 366  # a longer range is more likely a typo in a year than a wish


@dataclass(frozen=True)
class DayOutcome:
    date: str  # YYYY-MM-DD
    status: str  # "digested" | "done" (already done, nothing run) | "empty" (the source listed no papers) | "failed"
    detail: str  # what was done, or the one-line reason of a failure
    result: digest.DigestResult | None = None  # None for done and failed days


def days(first: str, last: str) -> list[str]:
    """Every day from `first` to `last`, both included; a clear error for a bad or reversed range."""
    archive.validate_day(first)
    archive.validate_day(last)
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    if end < start:
        raise SummarizerError(f"The range {first} to {last} ends before it starts; pass --from before --to.")
    if (end - start).days >= MAX_DAYS:
        raise SummarizerError(f"The range {first} to {last} spans more than {MAX_DAYS} days; split it.")
    return [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def day_source(source: str, date: str) -> str:
    """The source of one day: `{date}` in a feed path or URL template becomes the day (feeds/{date}.xml)."""
    return source.replace("{date}", date)


def finished(date: str, style: str, lm: engine.LoadedModel, home: Path | None = None, **selecting) -> bool:
    """The day's digest holds a record for every paper the archive lists for it (after the same selection), from
    this model, prompt version and rules' version. Reads files only; an empty or unreadable day is never finished."""
    _, json_path = digest.digest_paths(date, style, home)
    listed = archive.load_papers(date, home)
    if not listed or not json_path.exists():
        return False
    try:
        doc = json.loads(json_path.read_text(encoding="utf-8"))
        records = sidecar.records(doc, json_path)
    except (OSError, ValueError, SummarizerError):
        return False
    prov = doc.get("provenance", {})
    if (doc.get("version") != sidecar.VERSION or prov.get("rules") != RULES_VERSION
            or prov.get("model") != dict(lm.provenance)
            or prov.get("prompt_version") != digest.get_style(style).prompt_version):
        return False
    expected = {p.id for p in select(sorted(listed, key=lambda p: -p.upvotes), **selecting)[0]}
    papers = doc.get("papers") or []
    have = {p.get("id") for p in papers}
    fresh = {p.get("id") for p in papers if not p.get("repeat_of")}
    return bool(expected) and have == expected and fresh <= set(records)


def backfill(first: str, last: str, style: str = "en-bullets", model: str | None = None, *, source: str = "hf",
             force: bool = False, load: dict | None = None, home: Path | None = None,
             lm: engine.LoadedModel | None = None, on_day=None, **options) -> list[DayOutcome]:
    """Digest each day of first..last in turn with one model (loaded once, after the range is checked).

    `options` go to digest.digest (limit, selection, arxiv, retries, overrides). `on_day(outcome)` is called as
    each day ends, so a long range shows progress."""
    dates = days(first, last)
    digest.get_style(style)
    lm = lm or engine.load_model(model, **(load or {}))
    selecting = {"sel": options.get("selection"), "limit": options.get("limit")}
    outcomes = []
    for date in dates:
        outcome = _one_day(date, style, lm, day_source(source, date), force, home, selecting, options)
        outcomes.append(outcome)
        if on_day:
            on_day(outcome)
    return outcomes


def _one_day(date, style, lm, source, force, home, selecting, options) -> DayOutcome:
    try:
        if not force and finished(date, style, lm, home, **selecting):
            return DayOutcome(date, "done", "already done: nothing generated")
        result = digest.digest(date, style, source=source, force=force, home=home, lm=lm, **options)
    except SummarizerError as exc:
        return DayOutcome(date, "failed", one_line(str(exc), 300))
    if result.papers == 0:
        return DayOutcome(date, "empty", "the source listed no papers", result)
    repeats = f" ({result.repeats} already digested earlier)" if result.repeats else ""
    return DayOutcome(date, "digested", f"{result.papers} papers{repeats}: {result.generated} generated, "
                                        f"{result.reused} reused, {result.valid} valid", result)


def table(outcomes: list[DayOutcome]) -> str:
    """The day table printed at the end of a backfill, and a count per status."""
    lines = [f"{'day':<10}  {'status':<8}  detail"]
    lines += [f"{o.date:<10}  {o.status:<8}  {o.detail}" for o in outcomes]
    counts = {s: sum(o.status == s for o in outcomes) for s in ("digested", "done", "empty", "failed")}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()) + f" of {len(outcomes)} days.")
    return "\n".join(lines)
