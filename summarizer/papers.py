"""The Paper record and pure parsers that turn HF daily-papers JSON, feed entries and arXiv Atom into Papers."""

from __future__ import annotations

import dataclasses
import html
import io
import re
import time
import urllib.parse
from dataclasses import dataclass

import feedparser

from summarizer import SummarizerError


@dataclass(frozen=True)
class Paper:
    id: str  # arXiv id without version, e.g. "2510.12487"; the dedup key everywhere
    title: str  # whitespace-collapsed title
    abstract: str  # the abstract, hard line breaks collapsed; "" when unknown (arXiv fallback fills it)
    date: str  # the Daily Papers day (YYYY-MM-DD) this paper was listed on, not its arXiv date
    authors: tuple[str, ...] = ()  # visible authors, in order
    upvotes: int = 0  # paper.upvotes on HF; 0 when the source has none
    published_at: str | None = None  # ISO timestamp of the arXiv publication, when known
    thumbnail: str | None = None  # png/gif/mp4 URL on a Hugging Face host (see thumbnail_url); None otherwise
    num_comments: int | None = None
    github_repo: str | None = None  # an http(s) URL on github.com (see web_url), else None
    project_page: str | None = None  # an http(s) URL (see web_url), else None
    ai_summary: str | None = None  # HF's own one-line summary, when present
    ai_keywords: tuple[str, ...] = ()
    source: str = "hf"  # "hf", a feed URL or path, or "arxiv"
    repeat_of: str | None = None  # the earlier day whose digest already has this paper

    @property
    def hf_url(self) -> str:
        return f"https://huggingface.co/papers/{self.id}"

    @property
    def abs_url(self) -> str:
        return f"https://arxiv.org/abs/{self.id}"

    @property
    def pdf_url(self) -> str:
        return f"https://arxiv.org/pdf/{self.id}"

    @property
    def is_video(self) -> bool:
        return bool(self.thumbnail) and self.thumbnail.lower().split("?")[0].endswith((".mp4", ".webm", ".mov"))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Paper:
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        for k in ("authors", "ai_keywords"):
            if k in kw:
                kw[k] = tuple(kw[k] or ())
        return cls(**kw)

    def replace(self, **changes) -> Paper:
        return dataclasses.replace(self, **changes)


# ---- pure parsers -------------------------------------------------------------------------------------------

# New-style ids (2510.12487, optional v2) and old-style ones (hep-th/9901001, math.GT/0309136).
_ARXIV_ID = r"(\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?"
_ID_IN_URL = re.compile(r"(?:arxiv\.org/(?:abs|pdf)|(?:huggingface\.co|hf\.co)/papers)/" + _ARXIV_ID, re.I)
_BARE_ID = re.compile(r"^(?:arxiv:)?" + _ARXIV_ID + r"(?:\.pdf)?$", re.I)
# The community feed's description: <p><b>Label:</b> value</p> paragraphs.
_LABELLED = re.compile(r"<b>\s*(Authors|Upvotes|Summary)\s*:?\s*</b>\s*:?(.*?)(?=<b>\s*\w+\s*:|</p>|$)", re.I | re.S)
_IMG_SRC = re.compile(r"<img\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.I)
_VIDEO_SRC = re.compile(r"<(?:video|source)\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.I)
_TAG = re.compile(r"<[^>]+>")


def normalize_id(value: str | None) -> str | None:
    """An arXiv id without version from a bare id, "arXiv:" id, abs/pdf URL or HF papers URL; None if none."""
    if not value:
        return None
    value = value.strip()
    m = _ID_IN_URL.search(value) or _BARE_ID.match(value)
    return m.group(1) if m else None


# Terminal escape sequences (CSI such as colours, OSC such as window titles or hyperlinks, two-character escapes).
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# Control characters other than tab and line breaks (C0, DEL, C1): a space, so words they joined stay apart.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Lone UTF-16 surrogates (valid JSON as "\ud800", but no UTF-8 file can hold them) and the bidi overrides that
# reorder how a line is displayed: removed.
_UNWRITABLE = re.compile(r"[\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def clean(text) -> str:
    """Text from the network made safe to store and print: lone surrogates, NULs, ANSI escapes, other control
    characters and bidi overrides taken out; "" for anything that is not a string (a JSON null, a number)."""
    if not isinstance(text, str):
        return ""
    return _CONTROL.sub(" ", _ANSI.sub("", _UNWRITABLE.sub("", text)))


def collapse(text: str | None) -> str:
    """Clean (see `clean`), then collapse hard line breaks and runs of spaces; blank-line paragraph breaks survive
    as one blank line."""
    text = clean(text)
    if not text:
        return ""
    paragraphs = re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip())
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def _int(value, default: int | None = 0) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _str(value) -> str | None:
    return clean(value).strip() or None


# What a URL may hold to be written into a Markdown link or an HTML attribute as it is: no quotes, brackets,
# parentheses, angle brackets, backslashes or spaces (a real link percent-encodes them).
_URL_SAFE = re.compile(r"^[A-Za-z0-9\-._~:/?#@!$&+,;=%]+$")
# The hosts HF daily-papers thumbnails come from (cdn-thumbnails.huggingface.co, cdn-uploads.huggingface.co), with
# their subdomains.
THUMBNAIL_HOSTS = ("huggingface.co", "hf.co")


def web_url(value, hosts: tuple[str, ...] | None = None, schemes: tuple[str, ...] = ("https", "http")) -> str | None:
    """`value` when it is a plain http(s) URL (on one of `hosts` or their subdomains, when given); else None.

    Data links are rendered as they are, so anything else (javascript:, data:, quotes that would end an HTML
    attribute, a parenthesis that would end a Markdown link, user:password@ tricks) is dropped."""
    value = _str(value)
    if value is None or not _URL_SAFE.match(value):
        return None
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in schemes or not host or parts.username is not None or parts.password is not None:
        return None
    if hosts is not None and not any(host == h or host.endswith("." + h) for h in hosts):
        return None
    return value


def thumbnail_url(value) -> str | None:
    """A thumbnail only from the https hosts the HF feed serves them from (see THUMBNAIL_HOSTS); else None."""
    return web_url(value, THUMBNAIL_HOSTS, schemes=("https",))


def github_url(value) -> str | None:
    return web_url(value, ("github.com",))


def paper_from_hf(item: dict, date: str) -> Paper | None:
    """One item of /api/daily_papers → Paper; None when it has no usable arXiv id. Missing fields are defaults."""
    if not isinstance(item, dict):
        return None
    paper = item.get("paper") if isinstance(item.get("paper"), dict) else {}
    pid = normalize_id(paper.get("id") if isinstance(paper.get("id"), str) else None)
    if pid is None:
        return None
    listed = paper.get("authors") if isinstance(paper.get("authors"), list) else ()
    authors = tuple(
        name for name in (collapse(a.get("name")) for a in listed if isinstance(a, dict) and not a.get("hidden"))
        if name
    )
    keywords = paper.get("ai_keywords") if isinstance(paper.get("ai_keywords"), list) else ()
    return Paper(
        id=pid,
        title=" ".join(collapse(paper.get("title") or item.get("title")).split()),  # a title is one line
        abstract=collapse(paper.get("summary") or item.get("summary")),
        date=date,
        authors=authors,
        upvotes=_int(paper.get("upvotes")) or 0,
        published_at=_str(paper.get("publishedAt")) or _str(item.get("publishedAt")),
        thumbnail=thumbnail_url(item.get("thumbnail")),
        num_comments=_int(item.get("numComments"), None),
        github_repo=github_url(paper.get("githubRepo")),
        project_page=web_url(paper.get("projectPage")),
        ai_summary=collapse(paper.get("ai_summary")) or None,
        ai_keywords=tuple(k for k in map(collapse, keywords) if k),
        source="hf",
    )


def papers_from_hf(items, date: str) -> list[Paper]:
    """A decoded /api/daily_papers page (a JSON array) → Papers, skipping items without an arXiv id."""
    if not isinstance(items, list):
        raise SummarizerError(f"The daily papers answer for {date} is not a JSON array (got {type(items).__name__}).")
    return [p for p in (paper_from_hf(item, date) for item in items) if p is not None]


def _filled(newer: Paper, older: Paper) -> Paper:
    """`newer` with the fields it lacks (empty or None) taken from `older`: a newer empty value erases nothing."""
    return newer.replace(**{
        f.name: getattr(older, f.name) for f in dataclasses.fields(Paper)
        if getattr(newer, f.name) in ("", None, ()) and getattr(older, f.name) not in ("", None, ())
    })


def unique(papers: list[Paper]) -> list[Paper]:
    """One Paper per arXiv id, at its first place; a later duplicate only fills fields the first one lacks."""
    out: dict[str, Paper] = {}
    for p in papers:
        out[p.id] = _filled(out[p.id], p) if p.id in out else p
    return list(out.values())


def merge(older: list[Paper], newer: list[Paper]) -> tuple[list[Paper], list[Paper]]:
    """A refreshed day: (merged list, the older papers the newer answer lacks). Merged by arXiv id: the newer
    answer's papers in its order, their fields winning unless empty, then the older papers it lacks, kept (HF lists
    grow through the day; a half-built list must not erase a full one)."""
    before = {p.id: p for p in unique(older)}
    fresh = [_filled(p, before[p.id]) if p.id in before else p for p in unique(newer)]
    seen = {p.id for p in fresh}
    missing = [p for p in before.values() if p.id not in seen]
    return fresh + missing, missing


def _text(html_fragment: str) -> str:
    return collapse(html.unescape(_TAG.sub(" ", html_fragment)))


def _iso(parsed_time) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", parsed_time) if parsed_time else None


def paper_from_entry(entry, date: str, source: str) -> Paper | None:
    """A feedparser entry → Paper; None when no arXiv id can be found in its link, id or guid.

    Handles the community RSS (HTML description with thumbnail, Authors, Upvotes, Summary), feeds whose
    description is the plain abstract (e.g. links to hf.co/papers/<id>) and Atom such as arXiv API results.
    """
    candidates = [entry.get("link"), entry.get("id")] + [ln.get("href") for ln in entry.get("links") or ()]
    pid = next((i for i in map(normalize_id, candidates) if i), None)
    if pid is None:
        return None
    description = entry.get("summary") or ""
    if not description and entry.get("content"):
        description = entry["content"][0].get("value") or ""
    labelled = {k.lower(): v for k, v in _LABELLED.findall(description)}
    authors = tuple(n for n in (collapse(a.get("name")) for a in entry.get("authors") or ()) if n)
    upvotes = 0
    if labelled:
        abstract = _text(labelled.get("summary", ""))
        if "authors" in labelled:
            authors = tuple(a for a in (s.strip() for s in _text(labelled["authors"]).split(",")) if a)
        upvotes = _int(_text(labelled.get("upvotes", "")).replace(",", "")) or 0
    else:
        abstract = _text(description)
    media = _VIDEO_SRC.search(description) or _IMG_SRC.search(description)
    return Paper(
        id=pid,
        title=" ".join(collapse(html.unescape(clean(entry.get("title")))).split()),
        abstract=abstract,
        date=date,
        authors=authors,
        upvotes=upvotes,
        published_at=_iso(entry.get("published_parsed")) or _str(entry.get("published")),
        thumbnail=thumbnail_url(html.unescape(media.group(1))) if media else None,
        source=source,
    )


def parse_feed(data: bytes, date: str, source: str) -> tuple[list[Paper], str | None]:
    """RSS/Atom bytes → (Papers in feed order, a warning or None). Every entry is listed under `date`.

    Broken XML: the entries feedparser could still read come back with a warning; none at all is an error.
    """
    parsed = feedparser.parse(io.BytesIO(data))  # a stream, so feedparser never treats the data as a path/URL
    papers, seen = [], set()
    for entry in parsed.entries:
        p = paper_from_entry(entry, date, source)
        if p is not None and p.id not in seen:
            seen.add(p.id)
            papers.append(p)
    skipped = len(parsed.entries) - len(papers)
    problem = None
    if parsed.bozo:
        reason = " ".join(str(parsed.get("bozo_exception", "unknown error")).split())
        if not papers:
            raise SummarizerError(f"The feed {source} could not be read as RSS/Atom: {reason}.")
        problem = f"the feed {source} is malformed ({reason}); kept the {len(papers)} papers that could be read"
    elif not parsed.version:
        raise SummarizerError(f"The feed {source} is not an RSS or Atom document.")
    if skipped:
        note = f"{skipped} feed entries without an arXiv id or duplicated were skipped"
        problem = f"{problem}; {note}" if problem else note
    return papers, problem


def papers_from_arxiv(data: bytes) -> dict[str, Paper]:
    """An arXiv API Atom answer → {id: Paper} (date left empty); error entries for unknown ids are dropped."""
    parsed = feedparser.parse(io.BytesIO(data))
    out = {}
    for entry in parsed.entries:
        p = paper_from_entry(entry, "", "arxiv")
        if p is not None and p.title.lower() != "error" and p.abstract:
            out[p.id] = p
    return out


def complete_from_arxiv(paper: Paper, record: Paper) -> Paper:
    """Fill the fields `paper` lacks (abstract, authors, title, published_at) from an arXiv record."""
    return paper.replace(
        abstract=paper.abstract or record.abstract,
        authors=paper.authors or record.authors,
        title=paper.title or record.title,
        published_at=paper.published_at or record.published_at,
    )
