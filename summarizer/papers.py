"""The Paper record and pure parsers that turn HF daily-papers JSON, feed entries and arXiv Atom into Papers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


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


