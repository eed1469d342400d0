"""Weekly and monthly digests: the most upvoted papers of an ISO week (2025-W43) or a month (2025-10).

The list comes from the HF API's week or month list, or, when that cannot be reached (or with source "archive"),
from the archived days of the period. Summaries are reused from the digests of the period's days, of the weeks and
months that overlap it (same model and prompt version), and from an earlier run of the period; only the papers none of them holds are generated. The page
is digests/<style>/<period>.md with its sidecar, like a day's.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

from summarizer import SummarizerError, archive, digest, engine, fetch, sidecar
from summarizer.papers import Paper, unique
from summarizer.render import render_digest
from summarizer.selection import Selection, select

log = logging.getLogger(__name__)

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
DEFAULT_TOP = 10  # papers in a week's or month's digest unless --top says otherwise


def parse(period: str, now: dt.datetime | None = None, expect: str | None = None) -> tuple[str, list[str]]:
    """("week" | "month", its days up to today as YYYY-MM-DD) for 2025-W43 or 2025-10; a one-line error for
    anything else, or for a period not of the `expect`ed kind."""
    if expect == "week" and not _WEEK.match(str(period)):
        raise SummarizerError(f"The week {period!r} is not of the form YYYY-Www (e.g. 2025-W43).")
    if expect == "month" and not _MONTH.match(str(period)):
        raise SummarizerError(f"The month {period!r} is not of the form YYYY-MM (e.g. 2025-10).")
    today = (now or dt.datetime.now(dt.timezone.utc)).date()
    if m := _WEEK.match(str(period)):
        year, week = int(m[1]), int(m[2])
        try:
            first = dt.date.fromisocalendar(year, week, 1)
        except ValueError:
            weeks = dt.date(year, 12, 28).isocalendar()[1]
            raise SummarizerError(f"The week {period!r} does not exist: {year} has ISO weeks W01 to W{weeks}.") from None
        kind, days = "week", [first + dt.timedelta(days=n) for n in range(7)]
    elif m := _MONTH.match(str(period)):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12:
            raise SummarizerError(f"The month {period!r} does not exist: months run from 01 to 12.")
        first = dt.date(year, month, 1)
        kind, days = "month", [first + dt.timedelta(days=n) for n in range(31)
                               if (first + dt.timedelta(days=n)).month == month]
    else:
        raise SummarizerError(f"The period {period!r} is neither a week (YYYY-Www, e.g. 2025-W43) nor a month "
                              "(YYYY-MM, e.g. 2025-10).")
    if days[0] > today:
        raise SummarizerError(f"The {kind} {period} has not begun yet; there is no list for it.")
    return kind, [d.isoformat() for d in days if d <= today]


def collect(period: str, source: str = "hf", home: Path | None = None,
            config: fetch.FetchConfig | None = None) -> tuple[list[Paper], str]:
    """(the period's papers, most upvoted first, where they came from: "hf" or "archive")."""
    kind, days = parse(period)
    if source not in ("hf", "archive"):
        raise SummarizerError(f"A {kind}'s digest reads source 'hf' (the API's {kind} list) or 'archive' (the "
                              f"archived days), not {source!r}.")
    archived = [p for day in days for p in archive.load_papers(day, home) or []]
    if source == "archive":
        return _ranked(archived), "archive"
    try:
        papers, _ = fetch.fetch_hf(period, config or fetch.FetchConfig(), period=kind)
    except fetch.Unavailable as exc:
        if not archived:
            raise SummarizerError(f"Could not fetch the list of {period}: {exc}; and no day of it is archived.") from None
        log.warning("warning: %s; the %s is built from its archived days.", exc, kind)
        return _ranked(archived), "archive"
    if not papers and archived:  # a list the API does not serve (yet): the days we have say more than nothing
        log.warning("warning: the API listed no papers for %s; the %s is built from its archived days.", period, kind)
        return _ranked(archived), "archive"
    return _ranked(papers), "hf"


def _ranked(papers: list[Paper]) -> list[Paper]:
    """One entry per id (a paper listed on two days is one paper, its best upvotes kept), most upvoted first."""
    return unique(sorted(papers, key=lambda p: -p.upvotes))


def digest_period(period: str, style: str = "en-bullets", model: str | None = None, *, source: str = "hf",
                  selection: Selection | None = None, retries: int = 2, overrides: dict | None = None,
                  load: dict | None = None, home: Path | None = None, lm: engine.LoadedModel | None = None,
                  config: fetch.FetchConfig | None = None) -> digest.DigestResult:
    """Write digests/<style>/<period>.md (+ .json) for the period's top papers; refresh the index."""
    st = digest.get_style(style)
    _, days = parse(period)
    selection = selection or Selection(top=DEFAULT_TOP)
    papers, _ = collect(period, source, home, config)
    papers, left_out = select(papers, selection)
    lm = lm or engine.load_model(model, **(load or {}))
    cfg = digest.generation_config(lm, st, overrides or {})
    md_path, json_path = digest.digest_paths(period, style, home)
    records = reused_records([digest.digest_paths(name, style, home)[1] for name in overlapping(days)], lm, st, papers)
    records = {p.id: records[p.id] for p in papers if p.id in records}
    reused = len(records)
    bare = [p for p in papers if not p.abstract and p.id not in records]
    records.update({p.id: sidecar.no_abstract() for p in bare})

    def save() -> None:
        digest.write_sidecar(json_path, period, st, lm, cfg, papers, records,
                             digest.chosen(selection, None, left_out))

    digest.summarize(lm, st, cfg, [p for p in papers if p.id not in records], records, retries, save)
    save()
    archive.write_atomic(md_path, render_digest(st, period, [digest.entry(p, records.get(p.id)) for p in papers]))
    digest.write_index(home)
    failures: dict[str, int] = {}
    for p in papers:
        for rule in {pr["rule"] for pr in records[p.id].problems}:
            failures[rule] = failures.get(rule, 0) + 1
    return digest.DigestResult(
        path=md_path, sidecar=json_path, papers=len(papers), repeats=0, reused=reused,
        generated=len(papers) - reused - len(bare), valid=sum(records[p.id].valid for p in papers),
        no_abstract=len(bare), failures=failures, left_out=left_out, warnings=tuple(digest.style_warnings(st, lm)))


def overlapping(days: list[str]) -> list[str]:
    """The digests that may hold papers of these days: the days, their ISO weeks and their months."""
    weeks = {"{}-W{:02d}".format(*dt.date.fromisoformat(d).isocalendar()[:2]) for d in days}
    return days + sorted(weeks) + sorted({d[:7] for d in days})


def reused_records(paths: list[Path], lm: engine.LoadedModel, st, papers: list) -> dict:
    """Validated records of the same model and prompt version from these sidecars (validated again where other rules
    judged them); a later path wins."""
    out: dict = {}
    for path in paths:
        out.update(digest.reusable_records(path, lm, st, papers))
    return out
