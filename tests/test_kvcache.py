"""The in-place KV cache: the same replies as transformers' own DynamicCache, no copy of the cache per decode step, and
row selection / overflow that keep every cached value."""

from __future__ import annotations

import pytest
import torch

from summarizer.engine import load_model
from summarizer.kvcache import InPlaceLayer, in_place_cache


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir), dtype="float32")


def padded_batch(tiny, lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.randint(5, tiny.model.config.vocab_size, (len(lengths), width), generator=g)
    mask = torch.tensor([[0] * (width - n) + [1] * n for n in lengths])
    return ids, mask


@pytest.mark.parametrize("lengths", [[9], [30, 12, 21]])
def test_generate_writes_the_same_tokens_as_with_a_dynamic_cache(tiny, lengths):
    from transformers import DynamicCache

    ids, mask = padded_batch(tiny, lengths)
    kw = dict(input_ids=ids, attention_mask=mask, max_new_tokens=20, do_sample=False, min_new_tokens=20,
              pad_token_id=tiny.tokenizer.pad_token_id)
    with torch.inference_mode():
        plain = tiny.model.generate(cache=DynamicCache(config=tiny.model.config), **kw)
        cache = in_place_cache(tiny.model.config, ids.shape[1] + 20)
        in_place = tiny.model.generate(cache=cache, **kw)
    assert torch.equal(plain, in_place)
    assert all(isinstance(layer, InPlaceLayer) for layer in cache.layers)
    assert cache.get_seq_length() == ids.shape[1] + 19  # the last token is never fed back


def test_a_decode_step_writes_into_the_buffer_it_was_given(tiny):
    """Every layer keeps the one buffer allocated at the prefill for the whole call: no per-step copy."""
    ids, mask = padded_batch(tiny, [16, 11])
    cache = in_place_cache(tiny.model.config, 16 + 8)
    with torch.inference_mode():
        tiny.model(input_ids=ids, attention_mask=mask, cache=cache, use_cache=True)
        buffers = [layer._buffers[0].data_ptr() for layer in cache.layers]
        step = ids[:, -1:]
        for _ in range(8):
            mask = torch.cat([mask, mask.new_ones(2, 1)], dim=1)
            tiny.model(input_ids=step, attention_mask=mask, cache=cache, use_cache=True)
    assert [layer._buffers[0].data_ptr() for layer in cache.layers] == buffers
    assert all(layer.keys.data_ptr() == layer._buffers[0].data_ptr() for layer in cache.layers)
    assert cache.get_seq_length() == 24


def test_selecting_rows_and_writing_past_the_capacity_keep_every_value():
    layer = InPlaceLayer(capacity=6)
    keys, values = torch.randn(3, 2, 4, 5), torch.randn(3, 2, 4, 5)
    layer.update(keys, values)
    more_k, more_v = torch.randn(3, 2, 1, 5), torch.randn(3, 2, 1, 5)
    layer.update(more_k, more_v)
    expected_k, expected_v = torch.cat([keys, more_k], dim=2), torch.cat([values, more_v], dim=2)
    assert torch.equal(layer.keys, expected_k) and torch.equal(layer.values, expected_v)
    layer.batch_select_indices(torch.tensor([2, 0]))
    assert torch.equal(layer.keys, expected_k[[2, 0]]) and layer._buffers[0].shape == (2, 2, 6, 5)
    tail_k, tail_v = torch.randn(2, 2, 4, 5), torch.randn(2, 2, 4, 5)  # 5 + 4 tokens: past the capacity of 6
    layer.update(tail_k, tail_v)
    assert torch.equal(layer.keys, torch.cat([expected_k[[2, 0]], tail_k], dim=2))
    assert torch.equal(layer.values, torch.cat([expected_v[[2, 0]], tail_v], dim=2))
    assert layer._buffers[0].shape[2] == 18 and layer.get_seq_length() == 9
    layer.crop(-3)  # DynamicLayer's own crop leaves a shorter view: the next write goes where the view ends
    layer.update(tail_k[:, :, :1], tail_v[:, :, :1])
    assert layer.get_seq_length() == 7 and torch.equal(layer.keys[:, :, 6], tail_k[:, :, 0])


def kv(n: int, layers: int = 2) -> list:
    return [(torch.full((1, 1, n, 2), float(n)), torch.full((1, 1, n, 2), -float(n))) for _ in range(layers)]


def test_the_store_finds_the_longest_shared_start_and_drops_the_least_recently_used():
    from summarizer.kvcache import PromptStore, shared_length

    assert shared_length((1, 2, 3), (1, 2, 4, 5)) == 2 and shared_length((1, 2), (1, 2, 3)) == 2
    assert shared_length((7,), (1,)) == 0 and shared_length((), (1,)) == 0
    store = PromptStore(tokens=10)
    assert store.longest((1, 2)) == (0, None)
    store.put((1, 2, 3, 4), kv(4))
    store.put((1, 2, 9), kv(3))
    shared, found = store.longest((1, 2, 3, 7, 7))  # shares 3 tokens with the first entry, 2 with the second
    assert shared == 3 and found[0][0].shape == (1, 1, 3, 2) and float(found[0][0][0, 0, 0, 0]) == 4.0
    assert store.held() == 7
    store.put((5, 5, 5, 5), kv(4))  # 11 tokens: the least recently used, (1, 2, 9), goes
    assert store.held() == 8 and store.longest((1, 2, 9))[0] == 2  # now only the first entry's start is there
    store.put((6,) * 11, kv(11))  # longer than the whole store: not kept, nothing dropped for it
    assert store.held() == 8 and len(store) == 2
    store.put((8,) * 10, kv(10))  # takes it all
    assert store.held() == 10 and len(store) == 1
