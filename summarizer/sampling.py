"""Sampling, each row from its own random stream: temperature, top-k and top-p as transformers applies them, drawn
by a logits processor under greedy search.

transformers samples a batch with one `torch.multinomial` over the whole vocabulary and the global generator, so a
row's draws depend on the rows beside it (a batch that drops its stopped rows, or a paper batched with others,
draws other texts), and the draw itself costs an exponential variate per vocabulary entry: 8.7 ms of a 98.6 ms
decode step at 9 rows of SmolLM2's 49,152 tokens on a 2-core CPU, with the full-vocabulary sort of top-p on top
(docs/BENCHMARKS.md). Here a row's candidates are its top_k tokens only; the processor draws one uniform number per
row per step from that row's generator (seeded from the call's seed and the row's prompt tokens, on the CPU
whatever the device), picks the token by inverse CDF, and leaves it the only finite score, so that greedy search's
argmax takes it. A row's text then depends on its seed and its own logits alone.
"""

from __future__ import annotations

import hashlib
from array import array

import torch
from transformers import LogitsProcessor


def row_seed(seed: int, ids: list[int]) -> int:
    """A row's seed: the call's `seed` and the row's prompt tokens, hashed (the same prompt in any batch, on any
    process, draws the same; a redraw, seeded apart, draws anew)."""
    digest = hashlib.blake2b(array("q", [seed, *ids]).tobytes(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # within torch's seed range


def candidates(scores: torch.Tensor, temperature: float, top_k: int, top_p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(token ids, probabilities) of each row's candidates, most probable first, `[rows, k]`: the scores divided by
    temperature, the top_k highest (0: all), and of those the fewest whose mass reaches top_p (the first always
    kept); a token left out has probability 0. The same distribution as transformers' TemperatureLogitsWarper,
    TopKLogitsWarper and TopPLogitsWarper in turn, then the softmax."""
    scores = scores.float() / temperature
    k = min(top_k, scores.shape[-1]) if top_k > 0 else scores.shape[-1]
    values, ids = scores.topk(k, dim=-1)
    probs = values.softmax(dim=-1)
    if top_p < 1.0:
        above = probs.cumsum(dim=-1) - probs  # the mass of the candidates ranked before each
        out = above >= top_p
        out[:, 0] = False
        probs = probs.masked_fill(out, 0.0)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return ids, probs


class RowSampler(LogitsProcessor):
    """Draws each row's next token (see the module) and returns scores that are -inf but at that token. `select`
    keeps the streams of the rows that go on when a batch drops its stopped rows."""

    def __init__(self, seeds: list[int], temperature: float, top_k: int, top_p: float):
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if scores.shape[0] != len(self.generators):
            raise ValueError(f"RowSampler holds {len(self.generators)} rows' streams, not {scores.shape[0]}.")
        ids, probs = candidates(scores, self.temperature, self.top_k, self.top_p)
        cdf = probs.double().cumsum(dim=-1)  # float64: u × total stays below the total, so a token of mass 0 is never
        u = torch.cat([torch.rand(1, generator=g, dtype=torch.float64) for g in self.generators])  # picked
        pick = (cdf <= (u.to(cdf.device) * cdf[:, -1])[:, None]).sum(dim=-1, keepdim=True)  # the first cdf above u
        token = ids.gather(1, pick)
        return torch.full_like(scores, float("-inf")).scatter_(1, token, 0.0)

    def select(self, keep: list[int]) -> None:
        self.generators = [self.generators[k] for k in keep]
