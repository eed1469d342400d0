"""prepack.py: linear layers run from weights reordered once for oneDNN, inside `prepacked` only; the engine's use."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch

from summarizer import engine, prepack
from summarizer.config import GenerationConfig
from summarizer.engine import generate, load_model
from summarizer.prompt import Prompt

DTYPES = [torch.bfloat16, torch.float32]


def linear(dtype=torch.float32, seed: int = 0, cls=torch.nn.Linear) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return cls(48, 24, dtype=dtype)


def needs(dtype):
    if not prepack.supported(dtype):
        pytest.skip(f"this torch or CPU runs no reordered {dtype} weights")


def close(a: torch.Tensor, b: torch.Tensor, dtype) -> bool:
    """bf16: bit-identical; fp32: the same sums in another order."""
    return torch.equal(a, b) if dtype == torch.bfloat16 else torch.allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_inside_the_block_a_layer_runs_reordered_with_the_plain_layers_output(dtype):
    needs(dtype)
    layer = linear(dtype)
    x = torch.randn(3, 5, 48).to(dtype)  # a batch of rows × positions, as a decoder layer gets it
    with torch.inference_mode():
        plain = layer(x)
        with prepack.prepacked(layer) as swapped:
            assert swapped == 1 and "forward" in vars(layer)
            fast = layer(x)
    assert "forward" not in vars(layer)  # as loaded again: training and PEFT see a plain nn.Linear
    assert close(fast, plain, dtype)
    with torch.inference_mode():
        assert torch.equal(layer(x), plain)


def test_a_changed_weight_is_reordered_again():
    needs(torch.float32)
    layer = linear()
    x = torch.randn(4, 48)
    with torch.inference_mode(), prepack.prepacked(layer):
        before = layer(x)
    with torch.no_grad():
        layer.weight.mul_(2)  # an in-place update (an optimizer step, a merged adapter) bumps the weight's version
    with torch.inference_mode():
        plain = layer(x)
        with prepack.prepacked(layer) as swapped:
            after = layer(x)
    assert swapped == 1 and close(after, plain, torch.float32) and not torch.allclose(after, before)


def test_layers_it_must_not_touch_run_as_loaded():
    class Adapted(torch.nn.Linear):  # what PEFT's or a quantizer's layers are: subclasses with a forward of their own
        pass

    hooked = linear(seed=2)
    hooked._hf_hook = object()  # accelerate's offloading moves weights in at each call
    half = linear(torch.float16, seed=3)
    plain = linear(seed=4)
    model = torch.nn.Sequential(linear(cls=Adapted, seed=1), hooked, half, plain)
    assert prepack.eligible(model) == ([plain] if prepack.supported(torch.float32) else [])
    with prepack.prepacked(model, enabled=False) as swapped:
        assert swapped == 0 and not any("forward" in vars(m) for m in model)


def test_a_layer_that_does_not_reproduce_itself_runs_as_loaded(monkeypatch, caplog):
    needs(torch.float32)
    monkeypatch.setitem(prepack.TOLERANCE, torch.float32, -1.0)  # no probe can pass
    layer = linear(seed=5)
    with caplog.at_level(logging.INFO, logger="summarizer.prepack"), prepack.prepacked(layer) as swapped:
        assert swapped == 0 and "forward" not in vars(layer)
    assert "runs as loaded: its reordered weight differed" in caplog.text


def test_no_copies_where_they_would_take_more_than_half_the_free_memory(monkeypatch, caplog):
    needs(torch.float32)
    monkeypatch.setattr(prepack, "_free_bytes", lambda: 2 * 48 * 24 * 4 - 1)  # the layer's weight is 4,608 bytes
    layer = linear(seed=6)
    with caplog.at_level(logging.INFO, logger="summarizer.prepack"), prepack.prepacked(layer) as swapped:
        assert swapped == 0
    assert "more than half the free memory" in caplog.text
    monkeypatch.setattr(prepack, "_free_bytes", lambda: 2 * 48 * 24 * 4)
    with prepack.prepacked(layer) as swapped:
        assert swapped == 1


def test_an_inner_block_leaves_the_layers_to_the_outer_one():
    needs(torch.float32)
    layer = linear(seed=7)
    with prepack.prepacked(layer) as outer:
        with prepack.prepacked(layer) as inner:
            assert (outer, inner) == (1, 0)
        assert "forward" in vars(layer)  # the inner block's end does not undo the outer's
    assert "forward" not in vars(layer)


# --- the engine ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def prompts():
    words = "we propose a sparse model that learns long context retrieval with fewer tokens".split()
    return [Prompt(key=f"k{i}", system="You summarize research abstracts.", user="Summarize:\n{abstract}",
                   abstract=" ".join(words[i:] + words[:i])) for i in range(5)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_generation_runs_every_linear_layer_reordered_and_writes_the_same_replies(tiny_model_dir, prompts,
                                                                                 monkeypatch, dtype):
    needs(dtype)
    lm = load_model(str(tiny_model_dir), dtype=str(dtype).removeprefix("torch."))
    monkeypatch.setattr(engine, "_suppressed", lambda tok, prompts: [0, 1])  # else a random model writes specials
    layers = prepack.eligible(lm.model)
    assert layers and len(layers) == sum(type(m) is torch.nn.Linear for m in lm.model.modules())
    cfg = GenerationConfig(max_new_tokens=12, batch_size=3, repetition_penalty=1.3)
    seen = []
    original = prepack._reordered
    monkeypatch.setattr(prepack, "_reordered", lambda layer: seen.append(layer) or original(layer))
    plain = generate(lm, prompts, dataclasses.replace(cfg, prepack_weights=False))
    assert not seen
    fast = generate(lm, prompts, cfg)
    assert {id(m) for m in seen} == {id(m) for m in layers}  # every layer ran from its copy
    assert not any("forward" in vars(m) for m in layers)  # and the model is as loaded after generate
    if dtype == torch.bfloat16:  # bit-identical layers: the same replies
        assert [g.text for g in fast] == [g.text for g in plain]
    else:  # fp32 sums in another order: a random model's near-ties may break apart, its logits may not
        ids = lm.tokenizer([engine.chat_text(lm.tokenizer, p) for p in prompts[:2]], return_tensors="pt",
                           padding=True)
        with torch.inference_mode():
            want = lm.model(**ids).logits
            with prepack.prepacked(lm.model):
                got = lm.model(**ids).logits
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-5)
