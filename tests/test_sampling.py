"""Sampling from each row's own stream (summarizer/sampling.py): the distribution transformers' warpers give, drawn
per row, and on the tiny model a row's reply independent of the rows beside it and of dropped rows."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from summarizer import engine
from summarizer.config import GenerationConfig
from summarizer.engine import generate, load_model
from summarizer.prompt import Prompt
from summarizer.sampling import RowSampler, candidates, row_seed


def full(ids: torch.Tensor, probs: torch.Tensor, vocab: int) -> torch.Tensor:
    return torch.zeros(ids.shape[0], vocab, dtype=probs.dtype).scatter_(1, ids, probs)


@pytest.mark.parametrize(("temperature", "top_k", "top_p"), [(0.7, 50, 0.9), (1.0, 0, 0.9), (1.5, 20, 1.0),
                                                            (0.7, 5, 0.05), (0.7, 2000, 0.5)])
def test_candidates_are_transformers_warpers_distribution(temperature, top_k, top_p):
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(6, 1000, generator=gen) * 3
    scores[1, :700] = float("-inf")  # a row with suppressed tokens, fewer left than top_k may ask for
    scores[2, 5] = 40.0  # a row whose first token holds nearly all the mass
    hf = scores.clone()
    for warper in (TemperatureLogitsWarper(temperature), TopKLogitsWarper(top_k) if top_k else None,
                   TopPLogitsWarper(top_p) if top_p < 1 else None):
        if warper is not None:
            hf = warper(None, hf)
    ids, probs = candidates(scores, temperature, top_k, top_p)
    assert torch.allclose(full(ids, probs, 1000), hf.softmax(dim=-1), atol=1e-6)
    assert (probs[:, :-1] >= probs[:, 1:]).all() and ((probs > 0).sum(-1) >= 1).all()


def test_the_draws_follow_the_candidates_probabilities():
    scores = torch.randn(1, 300, generator=torch.Generator().manual_seed(1)) * 2
    rows = 20_000  # one row per draw, each with its own stream
    sampler = RowSampler(list(range(rows)), temperature=0.8, top_k=40, top_p=0.9)
    out = sampler(None, scores.expand(rows, -1))
    assert ((out == 0).sum(-1) == 1).all() and (out.isinf().sum(-1) == 299).all()  # one finite score a row
    counts = torch.bincount(out.argmax(-1), minlength=300).double() / rows
    ids, probs = candidates(scores, 0.8, 40, 0.9)
    expected = full(ids, probs.double(), 300)[0]
    assert counts[expected == 0].sum() == 0  # never a token outside the candidates
    assert 0.5 * (counts - expected).abs().sum() < 0.03  # total variation


def test_a_row_draws_the_same_in_any_batch_and_after_a_drop():
    torch.manual_seed(0)
    scores = torch.randn(3, 100)
    seeds = [row_seed(7, [1, 2, 3]), row_seed(7, [4, 5]), row_seed(7, [6])]
    assert len(set(seeds)) == 3 and row_seed(7, [1, 2, 3]) == seeds[0] != row_seed(8, [1, 2, 3])
    together = RowSampler(seeds, 1.0, 50, 0.95)
    alone = RowSampler(seeds[2:], 1.0, 50, 0.95)
    for _ in range(5):
        assert torch.equal(together(None, scores)[2:], alone(None, scores[2:]))
    together.select([2])  # rows 0 and 1 left the batch: row 2 goes on with its own stream
    for _ in range(5):
        assert torch.equal(together(None, scores[2:]), alone(None, scores[2:]))


# --- on the tiny model -------------------------------------------------------------------------------------------

SYSTEM = "You summarize research abstracts. " * 3
USER = "Summarize this abstract:\n{abstract}\nAnswer in one sentence."
ABSTRACTS = ["we propose a sparse model", "long context retrieval with fewer tokens and beats baselines on tasks",
             "a model that learns", "retrieval beats", "sparse tokens with long context and fewer baselines"]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir), dtype="float32")


def prompts() -> list[Prompt]:
    return [Prompt(key=f"k{i}", system=SYSTEM, user=USER, abstract=a) for i, a in enumerate(ABSTRACTS)]


@pytest.mark.parametrize("prefix_cache", [True, False])
def test_a_sampled_reply_does_not_depend_on_the_rest_of_its_batch(tiny, prefix_cache):
    cfg = GenerationConfig(max_new_tokens=12, do_sample=True, temperature=1.5, seed=3, prefix_cache=prefix_cache)
    engine._STORES.pop(tiny.model, None)
    batch = [g.text for g in generate(tiny, prompts(), cfg)]
    alone = [generate(tiny, [p], cfg)[0].text for p in prompts()]
    reordered = [g.text for g in generate(tiny, prompts()[::-1], cfg)][::-1]
    assert batch == alone == reordered
    assert len(set(batch)) == len(batch)
    other = [g.text for g in generate(tiny, prompts(), dataclasses.replace(cfg, seed=4))]
    assert sum(a != b for a, b in zip(batch, other, strict=True)) >= 3  # another seed, other draws
