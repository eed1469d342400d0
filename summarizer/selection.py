"""Which of a day's papers a digest keeps: keyword include/exclude, a minimum of upvotes, the top N. Pure.

Papers left out are counted by the rule that left them out (the run prints it, the sidecar records it): a
selection never drops a paper silently.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from summarizer import SummarizerError
from summarizer.papers import Paper


@dataclass(frozen=True)
class Selection:
    top: int | None = None  # keep the N most upvoted papers (after the rules below); None = all
    min_upvotes: int = 0  # keep papers with at least this many upvotes
    include: tuple[str, ...] = ()  # keep a paper only if its title or abstract holds one of these (case-blind)
    exclude: tuple[str, ...] = ()  # leave a paper out if its title or abstract holds one of these (case-blind)

    def __post_init__(self):
        if self.top is not None and self.top < 1:
            raise SummarizerError(f"--top must be 1 or more, not {self.top}.")
        if self.min_upvotes < 0:
            raise SummarizerError(f"--min-upvotes must be 0 or more, not {self.min_upvotes}.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def keywords(value: str | None) -> tuple[str, ...]:
    """A comma-separated option ("diffusion, agent") as lower-case keywords; empty items are dropped."""
    return tuple(k.strip().lower() for k in (value or "").split(",") if k.strip())


def _holds(paper: Paper, words: tuple[str, ...]) -> bool:
    hay = f"{paper.title}\n{paper.abstract}".lower()
    return any(w.lower() in hay for w in words)


def select(papers: list[Paper], sel: Selection | None = None, limit: int | None = None
           ) -> tuple[list[Paper], dict[str, int]]:
    """(kept papers in the given order, {rule: papers it left out}); each paper counts under the first rule that
    leaves it out: exclude, include, min_upvotes, then top (the N most upvoted of the rest; `limit` caps it too)."""
    sel = sel or Selection()
    left: dict[str, int] = {}
    kept = []
    for p in papers:
        rule = ("exclude" if sel.exclude and _holds(p, sel.exclude) else
                "include" if sel.include and not _holds(p, sel.include) else
                "min_upvotes" if p.upvotes < sel.min_upvotes else None)
        if rule:
            left[rule] = left.get(rule, 0) + 1
        else:
            kept.append(p)
    caps = [n for n in (sel.top, limit) if n]
    if caps and len(kept) > min(caps):
        best = set(id(p) for p in sorted(kept, key=lambda p: -p.upvotes)[:min(caps)])
        left["top"] = len(kept) - min(caps)
        kept = [p for p in kept if id(p) in best]
    return kept, left


def describe(left_out: dict[str, int]) -> str:
    """'3 left out (exclude 1, top 2)', or '' when nothing was."""
    if not left_out:
        return ""
    total = sum(left_out.values())
    return f"{total} left out ({', '.join(f'{rule} {n}' for rule, n in sorted(left_out.items()))})"
