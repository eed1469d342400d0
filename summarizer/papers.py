"""The Paper record and pure parsers that turn HF daily-papers JSON, feed entries and arXiv Atom into Papers."""

from __future__ import annotations

import dataclasses
import html
import io
import re
import time
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
    thumbnail: str | None = None  # png/gif/mp4 URL
    num_comments: int | None = None
    github_repo: str | None = None
    project_page: str | None = None
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


def collapse(text: str | None) -> str:
    """Collapse hard line breaks and runs of spaces; blank-line paragraph breaks survive as one blank line."""
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
    return value.strip() or None if isinstance(value, str) else None


def paper_from_hf(item: dict, date: str) -> Paper | None:
    """One item of /api/daily_papers → Paper; None when it has no usable arXiv id. Missing fields are defaults."""
    if not isinstance(item, dict):
        return None
    paper = item.get("paper") if isinstance(item.get("paper"), dict) else {}
    pid = normalize_id(paper.get("id") if isinstance(paper.get("id"), str) else None)
    if pid is None:
        return None
    authors = tuple(
        collapse(a["name"]) for a in paper.get("authors") or ()
        if isinstance(a, dict) and not a.get("hidden") and isinstance(a.get("name"), str) and a["name"].strip()
    )
    keywords = paper.get("ai_keywords") or ()
    return Paper(
        id=pid,
        title=collapse(paper.get("title") or item.get("title")),
        abstract=collapse(paper.get("summary") or item.get("summary")),
        date=date,
        authors=authors,
        upvotes=_int(paper.get("upvotes")) or 0,
        published_at=_str(paper.get("publishedAt")) or _str(item.get("publishedAt")),
        thumbnail=_str(item.get("thumbnail")),
        num_comments=_int(item.get("numComments"), None),
        github_repo=_str(paper.get("githubRepo")),
        project_page=_str(paper.get("projectPage")),
        ai_summary=collapse(paper.get("ai_summary")) or None,
        ai_keywords=tuple(k for k in keywords if isinstance(k, str)) if isinstance(keywords, list) else (),
        source="hf",
    )


def papers_from_hf(items, date: str) -> list[Paper]:
    """A decoded /api/daily_papers page (a JSON array) → Papers, skipping items without an arXiv id."""
    if not isinstance(items, list):
        raise SummarizerError(f"The daily papers answer for {date} is not a JSON array (got {type(items).__name__}).")
    return [p for p in (paper_from_hf(item, date) for item in items) if p is not None]


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
    authors = tuple(collapse(a.get("name")) for a in entry.get("authors") or () if collapse(a.get("name")))
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
        title=collapse(html.unescape(entry.get("title") or "")),
        abstract=abstract,
        date=date,
        authors=authors,
        upvotes=upvotes,
        published_at=_iso(entry.get("published_parsed")) or _str(entry.get("published")),
        thumbnail=media.group(1) if media else None,
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
