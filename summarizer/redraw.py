"""Best of N: the one way anything is drawn again — a digest's retry of a paper, a section of a reply, a list from its
first bad item, a piece of a translation — and the engine rounds each paper may spend on it.

Every mechanism has the same shape: draw every part once, then draw again the parts whose kept draw still has
problems, keep the draw with the fewest (the earlier on a tie), and charge the kept draw with every draw's tokens and
seconds. What differs is only what a draw is (a prompt, a prefill, a sampling seed) and how its problems are counted,
so those are the caller's `draw`.

The budget: `spent` counts, per paper, the engine rounds (engine.generate calls) it has taken part in, over all its
passes and all their parts; a paper is drawn again only while the draw fits in what is left of its `budget`, by any
mechanism, and keeps its best draw so far. A draw that takes several rounds (a retry written section by section) or
that must leave rounds for draws after it (a section before the reply's later ones) says so with `need`, so that no
paper spends more than its budget. A part's first draw is always made (a reply needs each of its sections once).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from summarizer.engine import Generation

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class Drawn(Generic[V]):
    """One part's draw: what the caller made of the reply, its Generation and how many problems it has."""

    value: V
    gen: Generation
    problems: int


def best_of(
    keys: Sequence[K],
    draw: Callable[[list[K], int, dict[K, Drawn]], list[Drawn]],
    redraws: int,
    *,
    owner: Callable[[K], str],
    spent: dict[str, int],
    budget: int,
    again: Callable[[K, Drawn], bool] | None = None,
    engine_round: bool = True,
    need: int = 1,
    after: Callable[[dict[K, Drawn]], None] | None = None,
) -> dict[K, Drawn]:
    """Each key's best draw, its Generation costing every draw made for it.

    `draw(keys, n, kept)` makes the `n`-th draw (0: the first) of `keys` in one engine round and returns their Drawn
    in order (`kept`: the best draws so far, for draws that continue from one). After each round a key goes again
    while `again(key, kept draw)` holds (default: it has problems), `redraws` rounds at most, and only while its
    paper (`owner(key)`) has `need` rounds left of `budget` in `spent` (1: the draw's own round; more for a draw of
several rounds, or one that leaves rounds for the draws to come after it). `engine_round`: each draw is one engine round, charged
    to `spent` for each paper drawn; False for a draw made of rounds that charge themselves (a digest's retry of a
    paper, written section by section). `after(kept)` runs after each round (a digest saves its progress there)."""
    again = again or (lambda _key, d: d.problems > 0)
    kept: dict[K, Drawn] = {}
    todo = list(keys)
    for n in range(redraws + 1):
        if n:
            todo = [k for k in todo if spent.get(owner(k), 0) + need <= budget]
        if not todo:
            break
        if engine_round:
            charge(spent, [owner(k) for k in todo])
        for k, new in zip(todo, draw(todo, n, kept), strict=True):
            old = kept.get(k)
            if old is None:
                kept[k] = new
                continue
            best = new if new.problems < old.problems else old
            kept[k] = dataclasses.replace(best, gen=dataclasses.replace(
                best.gen, completion_tokens=old.gen.completion_tokens + new.gen.completion_tokens,
                seconds=old.gen.seconds + new.gen.seconds))
        if after is not None:
            after(kept)
        todo = [k for k in todo if again(k, kept[k])]
    return kept


def charge(spent: dict[str, int], papers: Sequence[str]) -> None:
    """One engine round for each of `papers` (a paper with several parts in the round is charged once)."""
    for paper in set(papers):
        spent[paper] = spent.get(paper, 0) + 1
