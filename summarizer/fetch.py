"""The fetch stage's I/O edge: HF daily papers API, RSS/Atom feeds and the arXiv API, behind the local archive.

All HTTP goes through huggingface_hub's session and http_backoff (HF_ENDPOINT, HF_HUB_OFFLINE, Retry-After).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2  # the HTTP client of huggingface_hub 2.x, whose session and backoff we use
from huggingface_hub import constants
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status, http_backoff

from summarizer import SummarizerError, __version__, archive
from summarizer.papers import (
    Paper,
    complete_from_arxiv,
    merge,
    papers_from_arxiv,
    papers_from_hf,
    parse_feed,
    unique,
)

log = logging.getLogger(__name__)

USER_AGENT = f"summarizer/{__version__} (daily papers digest; python)"


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise SummarizerError(f"The environment variable {name} must be a number of seconds.") from None


@dataclass(frozen=True)
class FetchConfig:
    page_size: int = 100  # `limit` per /api/daily_papers page; a shorter page is the last one
    max_pages: int = 20  # guard against a server that ignores `p` and repeats a full page forever
    max_retries: int = 3  # http_backoff retries on 408/429/5xx and connection errors, then a one-line error
    base_wait: float = 1.0  # seconds before the first retry, doubling each time (Retry-After wins when sent)
    max_wait: float = 8.0  # cap on the doubling wait
    timeout: float = 30.0  # seconds per request (the hub session itself has no timeout)
    # arXiv API endpoint; SUMMARIZER_ARXIV_URL points it elsewhere (a mirror, or the tests' loopback server)
    arxiv_url: str = field(
        default_factory=lambda: os.environ.get("SUMMARIZER_ARXIV_URL", "https://export.arxiv.org/api/query"))
    arxiv_batch: int = 50  # ids per arXiv request
    # seconds between arXiv requests (arXiv asks for ~3 s); SUMMARIZER_ARXIV_DELAY overrides
    arxiv_delay: float = field(default_factory=lambda: _env_float("SUMMARIZER_ARXIV_DELAY", 3.0))


class Unavailable(SummarizerError):
    """The source could not be reached (offline mode, network down, HTTP error after retries)."""


def resolve_source(source: str) -> str:
    """"hf", an http(s) URL, or a local feed path made absolute (the archive records it in this form)."""
    if source == "hf" or source.startswith(("http://", "https://")):
        return source
    path = Path(source[7:] if source.startswith("file://") else source).expanduser()
    if not path.is_file():
        raise SummarizerError(f"The source {source!r} is neither 'hf', an http(s) URL nor an existing feed file.")
    return str(path.resolve())


def _get(url: str, cfg: FetchConfig, *, params: dict | None = None, headers: dict | None = None) -> httpx2.Response:
    """One GET with retries; every failure becomes Unavailable with a one-line reason."""
    try:
        response = http_backoff(
            "GET", url, params=params, headers=headers or {"User-Agent": USER_AGENT}, timeout=cfg.timeout,
            max_retries=cfg.max_retries, base_wait_time=cfg.base_wait, max_wait_time=cfg.max_wait,
        )
        hf_raise_for_status(response)
        return response
    except OfflineModeIsEnabled:
        raise Unavailable(f"{url} was not requested because HF_HUB_OFFLINE=1 (offline mode)") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        retried = f" after {cfg.max_retries} retries" if status in (408, 429) or (status or 0) >= 500 else ""
        raise Unavailable(f"{url} answered HTTP {status or '?'}{retried}") from None
    except httpx2.HTTPError as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise Unavailable(f"{url} could not be reached ({reason})") from None


def fetch_hf(date: str, cfg: FetchConfig, period: str = "date") -> tuple[list[Paper], dict[str, bytes]]:
    """All pages of {HF_ENDPOINT}/api/daily_papers for `date` → (Papers in API order, raw pages by file name).

    period: the query's key, "date" (a day), "week" (`date` is YYYY-Www) or "month" (YYYY-MM): the API lists the
    papers of that week or month then. A week's or month's paper is dated by the day the API lists it on
    (the item's publishedAt) when that is a day of the period; else by `date` itself."""
    url = f"{constants.ENDPOINT}/api/daily_papers"
    headers = build_hf_headers(library_name="summarizer", library_version=__version__)
    papers: list[Paper] = []
    raw: dict[str, bytes] = {}
    seen: set[str] = set()
    for page in range(cfg.max_pages):
        response = _get(url, cfg, params={period: date, "limit": cfg.page_size, "p": page}, headers=headers)
        raw[f"hf-p{page}.json"] = response.content
        try:
            items = json.loads(response.content)
        except ValueError:
            kind = response.headers.get("content-type", "").split(";")[0] or "unknown content"
            looks_html = kind == "text/html" or response.content.lstrip()[:1] == b"<"
            what = "an HTML page" if looks_html else f"malformed JSON ({kind})"
            raise SummarizerError(
                f"{url} returned {what} instead of the daily papers JSON for {date}; is HF_ENDPOINT a Hub mirror?"
            ) from None
        batch = papers_from_hf(items, date) if period == "date" else _dated(items, date)
        new = any(p.id not in seen for p in batch)
        seen.update(p.id for p in batch)
        papers.extend(batch)
        if len(items) < cfg.page_size or not new:  # a short page is the last; a repeated page means `p` is ignored
            break
    return unique(papers), raw  # an id listed twice (on one page or two) is one paper


def _dated(items, period: str) -> list[Paper]:
    """A week's or month's page → Papers, each dated by its item's publishedAt day when that lies in `period`."""
    if not isinstance(items, list):
        return papers_from_hf(items, period)  # the clear error for an answer that is no list
    out = []
    for item in items:
        day = str(item.get("publishedAt") or "")[:10] if isinstance(item, dict) else ""
        inside = day if day[:7] == period or (len(period) == 8 and _iso_week(day) == period) else period
        out += papers_from_hf([item], inside)
    return out


def _iso_week(day: str) -> str | None:
    try:
        year, week, _ = dt.date.fromisoformat(day).isocalendar()
    except ValueError:
        return None
    return f"{year}-W{week:02d}"


def fetch_feed(source: str, date: str, cfg: FetchConfig) -> tuple[list[Paper], dict[str, bytes]]:
    """An RSS/Atom feed (URL or absolute path) → (Papers, raw). The feed is the day's list: every entry gets `date`."""
    if source.startswith(("http://", "https://")):
        data = _get(source, cfg).content
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise SummarizerError(f"The feed file {source} cannot be read ({exc.strerror}).") from None
    papers, warning = parse_feed(data, date, source)
    if warning:
        log.warning("warning: %s", warning)
    return papers, {"feed.xml": data}


def complete_abstracts(papers: list[Paper], cfg: FetchConfig) -> tuple[list[Paper], dict[str, bytes]]:
    """Fill missing abstracts from the arXiv API, one request at a time; failures leave the papers as they were."""
    missing = [p.id for p in papers if not p.abstract]
    records: dict[str, Paper] = {}
    raw: dict[str, bytes] = {}
    for n, start in enumerate(range(0, len(missing), cfg.arxiv_batch)):
        if n and cfg.arxiv_delay:
            time.sleep(cfg.arxiv_delay)  # arXiv's etiquette: requests a few seconds apart
        ids = missing[start:start + cfg.arxiv_batch]
        try:
            response = _get(cfg.arxiv_url, cfg, params={"id_list": ",".join(ids), "max_results": len(ids)})
        except Unavailable as exc:
            log.warning("warning: arXiv fallback skipped for %d papers: %s.", len(missing) - start, exc)
            break
        raw[f"arxiv-{n}.xml"] = response.content
        records.update(papers_from_arxiv(response.content))
    filled = [complete_from_arxiv(p, records[p.id]) if not p.abstract and p.id in records else p for p in papers]
    return filled, raw


def _listed(date: str, papers: list[Paper], home: Path | None) -> list[Paper]:
    """The day as the pipeline sees it: one entry per id, repeats marked, most upvoted first."""
    earlier = archive.digested_before(date, home)
    marked = [p.replace(repeat_of=earlier.get(p.id)) for p in unique(papers)]
    return sorted(marked, key=lambda p: -p.upvotes)  # stable: equal upvotes keep the source's order


def collect(date: str, source: str = "hf", *, refresh: bool = False, arxiv: bool = True,
            home: Path | None = None, config: FetchConfig | None = None) -> list[Paper]:
    """The papers listed on `date` by `source`, archived; sorted by upvotes (desc), repeats marked.

    An archived, non-empty day from the same source is reused unless `refresh`. When the source cannot be
    reached, the archive serves the day (unless `refresh`); with nothing archived that is a one-line error.
    A failed fetch never touches the archive, and a fetch never loses an archived paper: the new answer is merged
    into the archived day by arXiv id (see papers.merge). The day is locked while it is fetched and written.
    """
    archive.validate_day(date)
    cfg = config or FetchConfig()
    source = resolve_source(source)
    record = archive.load_record(date, home)
    if _reusable(record, source, refresh):
        return _listed(date, archive.load_papers(date, home), home)
    with archive.day_lock(date, home):
        record = archive.load_record(date, home)  # another run may have fetched the day while this one waited
        if _reusable(record, source, refresh):
            return _listed(date, archive.load_papers(date, home), home)
        same = record is not None and record.get("source") == source
        try:
            papers, raw = fetch_hf(date, cfg) if source == "hf" else fetch_feed(source, date, cfg)
        except Unavailable as exc:
            if same and not refresh:
                log.warning("warning: %s; using the archive of %s fetched at %s.", exc, date, record.get("fetched_at"))
                return _listed(date, archive.load_papers(date, home), home)
            kept = " The archived copy was left untouched." if record is not None else ""
            raise SummarizerError(f"Could not fetch the papers of {date}: {exc}.{kept}") from None
        earlier: tuple[str, ...] = ()
        if record is not None and record["papers"]:
            papers, earlier = _merged(date, archive.load_papers(date, home), papers), _raw_dirs(record)
        if arxiv and any(not p.abstract for p in papers):
            papers, arxiv_raw = complete_abstracts(papers, cfg)
            raw.update(arxiv_raw)
        archive.save_day(date, source, papers, raw, home, earlier_raw=earlier)
    return _listed(date, papers, home)


def _reusable(record: dict | None, source: str, refresh: bool) -> bool:
    """An archived day is served as it is unless refreshed, fetched from another source, or empty (it may have
    filled since)."""
    return not refresh and record is not None and record.get("source") == source and bool(record["papers"])


def _merged(date: str, archived: list[Paper], fetched: list[Paper]) -> list[Paper]:
    merged, kept = merge(archived, fetched)
    if kept:  # HF lists grow through the day: a smaller answer is a list still being built, not papers withdrawn
        log.warning("warning: the new answer for %s lists %s where the archive has %d; kept the %s it lacks.",
                    date, _papers(len(unique(fetched))), len(unique(archived)), _papers(len(kept), "archived "))
    return merged


def _papers(n: int, kind: str = "") -> str:
    return f"{n} {kind}paper{'' if n == 1 else 's'}"


def _raw_dirs(record: dict) -> tuple[str, ...]:
    names = [record.get("raw"), *(record.get("earlier_raw") or ())]
    return tuple(n for n in names if isinstance(n, str) and n)
