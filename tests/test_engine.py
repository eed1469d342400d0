"""The engine on tiny random models: batching plan, order, greedy equivalence, truncation, seq2seq, loading."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import shutil
import time
import warnings

import pytest

from summarizer import SummarizerError, engine, loading
from summarizer.config import GenerationConfig, load_preset
from summarizer.engine import Generation, TruncationWarning, chat_text, generate, load_model, plan_batches
from summarizer.prompt import Prompt

SYSTEM = "You summarize research abstracts."
USER = "Summarize this abstract:\n{abstract}\nAnswer in one sentence."


def prompt(key: str, abstract: str, **kw) -> Prompt:
    return Prompt(key=key, system=SYSTEM, user=USER, abstract=abstract, **kw)


def abstracts(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    words = "we propose a sparse model that learns long context retrieval with fewer tokens and beats baselines".split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 40))) for _ in range(n)]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir), dtype="float32")


@pytest.fixture(scope="module")
def marian(tiny_marian_dir):
    return load_model(str(tiny_marian_dir), dtype="float32")


# --- plan_batches: pure ----------------------------------------------------------------------------------------


def padding(lengths: list[int], batches: list[list[int]]) -> tuple[int, int]:
    """(padded prompt slots, of which padding) of a plan."""
    slots = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return slots, slots - sum(lengths[i] for b in batches for i in b)


def test_plan_batches_sorts_longest_first_and_caps_rows():
    cfg = GenerationConfig(batch_size=2, token_budget=10_000, max_new_tokens=10, max_padding=1.0)
    assert plan_batches([10, 50, 20, 40, 30], cfg) == [[1, 3], [4, 2], [0]]


def test_plan_batches_respects_token_budget_exactly():
    # rows × (longest + 20) ≤ 300: [100, 90] costs 240, adding 80 would cost 360; [80, 10, 10] costs 300 — but
    # [80] + [10, 10, 10] is as many batches with 130 fewer padded slots than [80, 10, 10] + [10].
    cfg = GenerationConfig(batch_size=8, token_budget=300, max_new_tokens=20, max_padding=1.0)
    assert plan_batches([100, 90, 80, 10, 10, 10], cfg) == [[0, 1], [2], [3, 4, 5]]
    cfg = GenerationConfig(batch_size=8, token_budget=239, max_new_tokens=20, max_padding=1.0)
    assert plan_batches([100, 90, 80, 10, 10, 10], cfg) == [[0], [1, 2], [3, 4, 5]]  # [100, 90] costs 240


def test_plan_batches_counts_beams_and_lets_an_oversized_prompt_run_alone():
    cfg = GenerationConfig(batch_size=8, token_budget=120, max_new_tokens=10, num_beams=2)
    assert plan_batches([500, 20, 20, 5], cfg) == [[0], [1, 2], [3]]  # 3 rows × 2 beams × 30 = 180 > 120
    cfg = GenerationConfig(batch_size=8, token_budget=120, max_new_tokens=10, max_padding=1.0)
    assert plan_batches([500, 20, 20, 5], cfg) == [[0], [1, 2, 3]]  # 3 rows × 30 = 90 ≤ 120
    assert plan_batches([], cfg) == []


def test_plan_batches_splits_where_padding_falls_most():
    # A day's spread of prompt lengths: one batch of 8 is 25% padding. Within 10%, the fewest batches is 3, and of
    # the 3-batch plans the planner takes the one with the fewest padded slots.
    lengths = [410, 395, 380, 300, 290, 285, 200, 190]
    one = GenerationConfig(batch_size=16, max_new_tokens=200, max_padding=1.0)
    assert plan_batches(lengths, one) == [list(range(8))]
    assert padding(lengths, [list(range(8))]) == (3280, 830)
    cfg = GenerationConfig(batch_size=16, max_new_tokens=200, max_padding=0.1)
    batches = plan_batches(lengths, cfg)
    assert batches == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert padding(lengths, batches) == (2530, 80)  # 3.2% padding
    zero = GenerationConfig(batch_size=16, max_new_tokens=200, max_padding=0.0)
    assert len(plan_batches(lengths, zero)) == 8 and plan_batches([7, 7, 7], zero) == [[0, 1, 2]]


def brute_force(lengths: list[int], cfg: GenerationConfig) -> tuple[int, int]:
    """(batches, padded slots) of the best plan: every split of the sorted lengths into contiguous runs."""
    import itertools

    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    best = None
    for cuts in itertools.product([False, True], repeat=max(0, len(order) - 1)):
        batches, start = [], 0
        for k, cut in enumerate(cuts, 1):
            if cut:
                batches.append(order[start:k])
                start = k
        batches.append(order[start:])
        ok = all(len(b) == 1 or (len(b) <= cfg.batch_size
                                 and len(b) * cfg.num_beams * (lengths[b[0]] + cfg.max_new_tokens) <= cfg.token_budget
                                 and padding(lengths, [b])[1] <= cfg.max_padding * padding(lengths, [b])[0])
                 for b in batches)
        if ok and (best is None or (len(batches), padding(lengths, batches)[0]) < best):
            best = (len(batches), padding(lengths, batches)[0])
    return best


@pytest.mark.parametrize("seed", range(30))
def test_plan_batches_is_the_best_plan(seed):
    rng = random.Random(seed)
    lengths = [rng.randint(1, 400) for _ in range(rng.randint(1, 11))]
    cfg = GenerationConfig(batch_size=rng.randint(1, 6), token_budget=rng.randint(300, 3000), max_new_tokens=64,
                           max_padding=rng.choice([0.0, 0.05, 0.1, 0.3, 1.0]))
    batches = plan_batches(lengths, cfg)
    assert (len(batches), padding(lengths, batches)[0]) == brute_force(lengths, cfg)


@pytest.mark.parametrize("seed", range(5))
def test_plan_batches_invariants(seed):
    rng = random.Random(seed)
    lengths = [rng.randint(1, 400) for _ in range(rng.randint(1, 60))]
    cfg = GenerationConfig(batch_size=rng.randint(1, 16), token_budget=rng.randint(300, 4000), max_new_tokens=64,
                           max_padding=rng.choice([0.05, 0.1, 1.0]))
    batches = plan_batches(lengths, cfg)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= cfg.batch_size
        assert len(b) == 1 or len(b) * (max(lengths[i] for i in b) + 64) <= cfg.token_budget
        slots, padded = padding(lengths, [b])
        assert padded <= cfg.max_padding * slots
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat, reverse=True)


def test_max_padding_must_be_a_fraction():
    with pytest.raises(SummarizerError, match="max_padding must be between 0 and 1"):
        GenerationConfig(max_padding=1.5)
    with pytest.raises(SummarizerError, match="drop_finished must be between 0 and 1"):
        GenerationConfig(drop_finished=-0.1)


# --- generate on the tiny causal model ----------------------------------------------------------------------------


def test_chat_text_is_the_template_with_generation_prompt(tiny):
    text = chat_text(tiny.tokenizer, prompt("p1", "An abstract."))
    assert text == (
        f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n"
        "Summarize this abstract:\nAn abstract.\nAnswer in one sentence.<|im_end|>\n<|im_start|>assistant\n"
    )
    assert chat_text(tiny.tokenizer, prompt("p1", "X"), abstract="Y") == chat_text(tiny.tokenizer, prompt("p1", "Y"))
    shot = chat_text(tiny.tokenizer, prompt("p1", "Y", shots=(("An example.", "- Its reply."),), prefill="-"))
    assert shot == text.replace("An abstract.", "Y").replace(
        "<|im_start|>user\n", "<|im_start|>user\nAn example.<|im_end|>\n<|im_start|>assistant\n- Its reply.<|im_end|>\n"
        "<|im_start|>user\n", 1) + "-"


def test_order_preserved_across_buckets_and_on_result(tiny):
    prompts = [prompt(f"k{i}", a) for i, a in enumerate(abstracts(9))]
    seen: list[tuple[int, Generation]] = []
    cfg = GenerationConfig(max_new_tokens=6, batch_size=2)
    gens = generate(tiny, prompts, cfg, on_result=lambda i, g: seen.append((i, g)))
    assert [g.key for g in gens] == [p.key for p in prompts]
    assert sorted(i for i, _ in seen) == list(range(9))
    assert all(gens[i] is g for i, g in seen)
    assert [i for i, _ in seen] != list(range(9))  # it really ran in length buckets, not input order
    for p, g in zip(prompts, gens, strict=True):
        assert g.prompt_tokens == len(tiny.tokenizer(chat_text(tiny.tokenizer, p), add_special_tokens=False)["input_ids"])
        assert 1 <= g.completion_tokens <= 6 and g.seconds > 0 and not g.truncated


def test_recording_sees_every_batch_and_only_inside_the_block(tiny):

    prompts = [prompt(f"k{i}", a) for i, a in enumerate(abstracts(7, seed=5))]
    cfg = GenerationConfig(max_new_tokens=5, batch_size=3, max_padding=1.0)
    with engine.recording() as log:
        gens = generate(tiny, prompts, cfg)
    assert len(log) == 3 and sum(len(r.prompt_tokens) for r in log) == 7  # 7 rows, at most 3 a batch
    assert sorted(n for r in log for n in r.prompt_tokens) == sorted(g.prompt_tokens for g in gens)
    assert sorted(n for r in log for n in r.completion_tokens) == sorted(g.completion_tokens for g in gens)
    assert all(max(r.completion_tokens) <= r.steps <= 5 and r.seconds > 0 for r in log)
    generate(tiny, prompts[:1], cfg)
    assert len(log) == 3


def test_batch_of_one_equals_batch_of_n_under_greedy(tiny):
    prompts = [prompt(f"k{i}", a) for i, a in enumerate(abstracts(6, seed=3))]
    one = generate(tiny, prompts, GenerationConfig(max_new_tokens=12, batch_size=1))
    many = generate(tiny, prompts, GenerationConfig(max_new_tokens=12, batch_size=6))
    assert [(g.text, g.completion_tokens, g.finished) for g in one] == [
        (g.text, g.completion_tokens, g.finished) for g in many
    ]


@pytest.mark.parametrize("sampled", [False, True])
def test_each_prompt_is_run_once_and_the_replies_do_not_change(tiny, sampled):
    """With prefix_cache, a row runs through the model only the tokens no earlier row or call ran (rows that start
    alike share the system prompt and example turn; a redraw repeats its prompt; a section round extends the last),
    unpadded; every reply is the one the row gets with its whole padded prompt prefilled in the batch."""
    system = "You summarize research abstracts. " * 4  # shared by all rows
    prompts = [Prompt(key=f"k{i}", system=system, user=USER, abstract=a) for i, a in enumerate(abstracts(5, seed=4))]
    cfg = GenerationConfig(max_new_tokens=16, do_sample=sampled, temperature=1.5, seed=3)
    plain = generate(tiny, prompts, dataclasses.replace(cfg, prefix_cache=False))
    engine._STORES.pop(tiny.model, None)
    with engine.recording() as log:
        cached = generate(tiny, prompts, cfg)
        again = generate(tiny, prompts, cfg)
    assert [(g.text, g.completion_tokens) for g in cached] == [(g.text, g.completion_tokens) for g in plain]
    assert [g.text for g in again] == [g.text for g in cached]
    rows = [engine._fit(tiny, p, cfg)[0] for p in prompts]
    [first], [second] = [r for r in log if r is log[0]], [log[1]]
    # The first row of the call runs whole; each later one from where it parts from the rows before it.
    order = sorted(range(5), key=lambda i: (-len(rows[i]), i))  # the batch's rows, longest first
    shared = [0] + [max(len(os.path.commonprefix([rows[i], rows[j]])) for j in order[:k])
                    for k, i in enumerate(order) if k]
    assert first.prefilled == tuple(len(rows[i]) - n for i, n in zip(order, shared, strict=True))
    assert min(shared[1:]) >= len(tiny.tokenizer(system)["input_ids"])  # the system prompt is run once
    assert second.prefilled == (1,) * 5  # the same prompts again: only the last token each
    one = generate(tiny, prompts[:1], cfg)  # one row alone reuses it too
    assert one[0].text == generate(tiny, prompts[:1], dataclasses.replace(cfg, prefix_cache=False))[0].text
    other = [dataclasses.replace(p, system="Another system prompt, " * 4) for p in prompts[:2]]
    assert [g.text for g in generate(tiny, other, cfg)] == [
        g.text for g in generate(tiny, other, dataclasses.replace(cfg, prefix_cache=False))]


def test_the_store_keeps_at_most_half_the_token_budget(tiny):
    prompts = [prompt(f"k{i}", a) for i, a in enumerate(abstracts(6, seed=8))]
    cfg = GenerationConfig(max_new_tokens=4, token_budget=400)
    engine._STORES.pop(tiny.model, None)
    generate(tiny, prompts, cfg)
    store = engine._STORES[tiny.model]
    assert 0 < store.held() <= 200 and len(store) < 6


def test_prefill_makes_logits_for_one_position_only(tiny):
    """A prompt is run for its KV cache alone: no vocabulary-sized logits for each of its positions."""
    system = "You summarize research abstracts. " * 4
    prompts = [Prompt(key=f"k{i}", system=system, user=USER, abstract=a) for i, a in enumerate(abstracts(3, seed=6))]
    engine._STORES.pop(tiny.model, None)
    shapes = []
    hook = tiny.model.lm_head.register_forward_hook(lambda module, args, out: shapes.append(tuple(out.shape)))
    try:
        generate(tiny, prompts, GenerationConfig(max_new_tokens=2))
    finally:
        hook.remove()
    assert shapes[0] == (1, 1, tiny.model.config.vocab_size)  # the first row's prefill
    assert len(shapes) == 3 + 2 and all(shape[1] == 1 for shape in shapes)  # three prefills, then two steps


def test_no_repeat_ngram_counts_the_prompt(tiny, monkeypatch):
    """With no_repeat_ngram_size n, no n tokens a reply writes occur earlier in prompt + reply (the random model
    otherwise loops)."""
    rows, real = [], tiny.model.generate

    def spy(**kw):
        out = real(**kw)
        rows.append((kw["input_ids"].shape[1], out[0].tolist()))
        return out

    monkeypatch.setattr(tiny.model, "generate", spy)
    prompts = [prompt(f"k{i}", a) for i, a in enumerate(abstracts(3, seed=5))]
    cfg = GenerationConfig(max_new_tokens=24, batch_size=1, prefix_cache=False)  # one unpadded row per call
    loops = generate(tiny, prompts, cfg)
    rows.clear()
    capped = generate(tiny, prompts, dataclasses.replace(cfg, no_repeat_ngram_size=3))
    for start, ids in rows:
        seen = {tuple(ids[i:i + 3]) for i in range(start - 2)}  # every trigram of the prompt
        for j in range(start, len(ids)):  # each trigram a generated token ends is new
            assert tuple(ids[j - 2:j + 1]) not in seen
            seen.add(tuple(ids[j - 2:j + 1]))
    assert len(rows) == 3 and [g.text for g in loops] != [g.text for g in capped]


def test_stop_strings_end_a_row_where_they_occur_and_the_rest_of_the_batch_goes_on(tiny):
    prompts = [prompt(f"k{i}", a) for i, a in enumerate(abstracts(3, seed=4))]
    free = generate(tiny, prompts, GenerationConfig(max_new_tokens=16))
    stop = free[0].text[5:8]  # greedy text of row 0 holds it: the same prompts must stop there
    cut = generate(tiny, prompts, GenerationConfig(max_new_tokens=16, stop_strings=(stop,)))
    first = free[0].text.find(stop) + len(stop)
    assert cut[0].text == free[0].text[:first].strip() and cut[0].finished
    assert cut[0].completion_tokens < free[0].completion_tokens
    for f, c in zip(free[1:], cut[1:], strict=True):  # rows that never write it are untouched
        if stop not in f.text:
            assert (c.text, c.completion_tokens) == (f.text, f.completion_tokens)


def test_a_line_limit_ends_each_row_after_that_many_line_breaks(tiny, monkeypatch):
    """max_lines counts generated tokens holding a line break. The random tiny model writes no text worth the name,
    so every token counts as a line break here: each row then stops after exactly max_lines tokens."""

    prompts = [prompt(f"k{i}", a) for i, a in enumerate(abstracts(3, seed=4))]
    free = generate(tiny, prompts, GenerationConfig(max_new_tokens=16))
    assert all(g.completion_tokens == 16 for g in free)
    monkeypatch.setattr(engine, "_newline_ids", lambda tok: frozenset(range(len(tok))))
    for lines in (3, 5):
        cut = generate(tiny, prompts, GenerationConfig(max_new_tokens=16, max_lines=lines))
        assert [(g.completion_tokens, g.finished) for g in cut] == [(lines, True)] * 3


@pytest.mark.parametrize("share", [0.01, 0.3, 0.6])
@pytest.mark.parametrize(("prefix_cache", "sampled"), [(True, False), (False, False), (True, True)])
def test_dropping_stopped_rows_changes_no_reply(tiny, monkeypatch, share, prefix_cache, sampled):
    """drop_finished (rows that stopped leave the batch and its KV cache, the rest go on in a new generate call) gives
    every row the reply one plain model.generate call per batch gives (drop_finished 0): greedy or sampled (each row
    draws from its own stream), with stop strings, a line limit, suppressed tokens, a repetition penalty and
    no_repeat_ngram_size; only the slots the stopped rows held are gone."""
    # The random tiny model writes only special tokens unless they are banned, and loops unless penalized.
    monkeypatch.setattr(engine, "_suppressed", lambda tok, prompts: [0, 1])
    one = tiny.tokenizer.convert_tokens_to_ids("1")
    # Sampled rows spread over the vocabulary: one token in eight counts as a line break for them.
    monkeypatch.setattr(engine, "_newline_ids", lambda tok: frozenset(range(3, len(tok), 8) if sampled else {one}))
    system = "You summarize research abstracts. " * 4  # a shared prefix for the prefix cache
    prompts = [Prompt(key=f"k{i}", system=system, user=USER, abstract=a) for i, a in enumerate(abstracts(8, seed=5))]
    cfg = GenerationConfig(max_new_tokens=24, batch_size=8, repetition_penalty=1.3, no_repeat_ngram_size=2,
                           stop_strings=("]]", "MM"), max_lines=2, prefix_cache=prefix_cache, do_sample=sampled,
                           temperature=1.2, seed=5)
    with engine.recording() as plain_log:
        plain = generate(tiny, prompts, dataclasses.replace(cfg, drop_finished=0))
    engine._STORES.pop(tiny.model, None)
    with engine.recording() as log:
        dropped = generate(tiny, prompts, dataclasses.replace(cfg, drop_finished=share))
    assert [(g.text, g.completion_tokens, g.finished) for g in dropped] == [
        (g.text, g.completion_tokens, g.finished) for g in plain]
    assert len({g.completion_tokens for g in plain}) >= 3 and any(not g.finished for g in plain)  # rows end apart
    [before], [after] = plain_log, log
    assert before.decoded is None and after.decoded is not None  # every row held all steps / only its own
    assert after.steps == before.steps and after.completion_tokens == before.completion_tokens
    assert sum(after.decoded) < len(prompts) * before.steps
    assert all(c <= d <= after.steps for c, d in zip(after.completion_tokens, after.decoded, strict=True))
    if share < 1 / len(prompts):  # every row leaves at its stop
        assert after.decoded == after.completion_tokens


def test_the_suppression_mask_is_transformers_suppress_tokens():
    import torch
    from transformers import SuppressTokensLogitsProcessor

    scores = torch.randn(3, 500)
    banned = [7, 3, 499, 3, 250, 600]  # a repeat, and an id past the scores' width
    ours = engine._suppress_mask(banned)
    theirs = SuppressTokensLogitsProcessor(banned)
    for _ in range(2):  # the mask is built at the first call and reused
        assert torch.equal(ours(None, scores), theirs(None, scores))
    assert ours(None, scores).isinf().sum() == 3 * 4


def test_newline_ids_are_the_tokens_that_hold_a_line_break(tiny):
    from summarizer.engine import _newline_ids

    ids = _newline_ids(tiny.tokenizer)
    assert tiny.tokenizer("\n", add_special_tokens=False)["input_ids"][0] in ids
    assert not ids & set(tiny.tokenizer("ab c", add_special_tokens=False)["input_ids"])


@pytest.fixture
def scripts_lm(tiny_model_dir):
    """The tiny model with whole-word tokens in three scripts, "现有" made the likeliest token and "한국" the next."""
    lm = load_model(str(tiny_model_dir), dtype="float32")
    lm.tokenizer.add_tokens(["现有", "한국", "язык"])
    lm.model.resize_token_embeddings(len(lm.tokenizer))
    han, hangul = lm.tokenizer.convert_tokens_to_ids(["现有", "한국"])
    forward = lm.model.forward

    def biased(*args, **kwargs):
        out = forward(*args, **kwargs)
        out.logits[..., han] += 100
        out.logits[..., hangul] += 50
        return out

    lm.model.forward = biased
    return lm


@pytest.mark.parametrize("batching", ["static", "continuous"])
def test_tokens_in_a_script_the_reply_language_never_writes_are_not_generated(scripts_lm, batching):
    """Korean replies get no Chinese characters (the likeliest token here; the 0.5B model wrote "现有的" in 9 of 10
    ko-translate replies), Chinese ones no Hangul; a prompt that holds the word may have it, and so may a prompt of no
    language or a config that turns the ban off."""
    cfg = GenerationConfig(max_new_tokens=4, batching=batching)

    def reply(language, abstract="we propose a model", **kw):
        return generate(scripts_lm, [prompt("k", abstract, language=language)], dataclasses.replace(cfg, **kw))[0].text

    assert reply(None) == reply("ko", suppress_other_scripts=False) == "现有" * 4
    assert reply("zh") == "现有" * 4
    assert reply("ko") == "한국" * 4  # the next likeliest; Korean itself is not banned
    assert reply("ko", "we propose 现有 data") == "现有" * 4  # the abstract holds it
    assert reply("en").startswith("现有")  # English is judged by its share of Latin script, not banned a script
    cyrillic = scripts_lm.tokenizer.convert_tokens_to_ids("язык")
    assert cyrillic in engine._suppressed(scripts_lm.tokenizer, [prompt("k", "x", language="en")])
    assert engine._suppressed(scripts_lm.tokenizer, [prompt("k", "x", language="zh"), prompt("j", "x")]) == []


def test_completion_count_stops_at_first_eos_even_though_pad_is_eos(tiny, monkeypatch):
    """SmolLM2/Qwen pad with their EOS: a finished row is EOS followed by padding EOS tokens."""
    import torch

    eos = tiny.tokenizer.eos_token_id
    x = tiny.tokenizer.convert_tokens_to_ids("x")

    def fake_generate(input_ids, attention_mask, generation_config, **cache):  # the batch's in-place KV cache
        assert attention_mask[0].all() and attention_mask[1, 0] == 0 and attention_mask[1, -1] == 1  # left padding
        assert (input_ids[1][attention_mask[1] == 0] == eos).all()  # padded with EOS, masked out
        rows = [[x, x, eos, eos, eos], [x, x, x, x, x]]
        return torch.cat([input_ids, torch.tensor(rows[: input_ids.shape[0]])], dim=1)

    monkeypatch.setattr(tiny.model, "generate", fake_generate)
    gens = generate(tiny, [prompt("long", "a b c d e f g"), prompt("short", "a")],
                    GenerationConfig(max_new_tokens=5, prefix_cache=False, drop_finished=0))  # one padded call
    assert (gens[0].text, gens[0].completion_tokens, gens[0].finished) == ("xx", 3, True)
    assert (gens[1].text, gens[1].completion_tokens, gens[1].finished) == ("xxxxx", 5, False)


class FakeState:
    """Process 0 of 2 under `accelerate launch`, without a process group."""

    num_processes, process_index, is_main_process = 2, 0, True


def test_prompts_are_split_across_processes_and_gathered_in_order(tiny, monkeypatch):
    prompts = [prompt(f"k{i}", a) for i, a in enumerate(abstracts(6, seed=5))]
    cfg = GenerationConfig(max_new_tokens=5, batch_size=2)
    single = generate(tiny, prompts, cfg)
    from_other_process = [(i, single[i]) for i in (5, 1, 3)]  # gather_object may interleave; order is by index
    monkeypatch.setattr("accelerate.PartialState", FakeState)
    monkeypatch.setattr("accelerate.utils.gather_object", lambda mine: mine + from_other_process)
    seen: list[int] = []
    with engine.recording() as log:
        gens = generate(tiny, prompts, cfg, on_result=lambda i, g: seen.append(i))
    assert [(g.key, g.text) for g in gens] == [(g.key, g.text) for g in single]
    # Process 0 of 2 runs every other prompt (a length-sorted list is shared evenly), then the others' follow.
    assert sorted(seen[:3]) == [0, 2, 4] and seen[3:] == [1, 3, 5]
    assert sum(len(r.prompt_tokens) for r in log) == 3


def test_sampling_is_seeded(tiny):
    prompts = [prompt("a", "sampling test")]
    cfg = GenerationConfig(max_new_tokens=10, do_sample=True, temperature=1.5, seed=7)
    assert generate(tiny, prompts, cfg)[0].text == generate(tiny, prompts, cfg)[0].text


def test_long_abstract_is_cut_with_warning_and_instructions_kept(tiny):
    # Byte tokenizer: one token per byte; context 512, 32 kept for the output.
    long = " ".join(f"word{i}" for i in range(200))
    ps = [prompt("2401.00001", long), prompt("2401.00002", "short one")]
    with pytest.warns(TruncationWarning, match=r"Paper 2401\.00001: abstract shortened"):
        gens = generate(tiny, ps, GenerationConfig(max_new_tokens=32))
    assert gens[0].truncated and not gens[1].truncated
    assert gens[0].prompt_tokens <= 512 - 32
    from summarizer.engine import _fit

    with pytest.warns(TruncationWarning):
        ids, cut = _fit(tiny, ps[0], GenerationConfig(max_new_tokens=32))
    seen = tiny.tokenizer.decode(ids)
    head = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\nSummarize this abstract:\nword0 word1"
    assert cut and seen.startswith(head)
    assert seen.endswith(" …\nAnswer in one sentence.<|im_end|>\n<|im_start|>assistant\n")
    assert "word199" not in seen


@pytest.fixture(scope="module")
def tiny_4k(tiny_long_context_dir):
    return load_model(str(tiny_long_context_dir), dtype="float32")


def test_a_huge_abstract_is_capped_whatever_the_context(tiny_4k):
    """A 60,000-token abstract (byte tokenizer: 60,000 bytes) fills no 4k context: it is cut to the abstract cap."""
    huge = ("We scale things. " * 3600)[:60_000]
    cfg = GenerationConfig(max_new_tokens=2)
    instructions = len(tiny_4k.tokenizer(chat_text(tiny_4k.tokenizer, prompt("k", "")))["input_ids"])
    with pytest.warns(TruncationWarning, match=r"Paper 2401\.00009: abstract shortened from 60000 to 1024 tokens to fit "
                                              r"the 1024 tokens an abstract may take"):
        gen = generate(tiny_4k, [prompt("2401.00009", huge)], cfg)[0]
    assert gen.truncated and gen.prompt_tokens <= instructions + 1024 + 4  # " …" and the seam
    assert gen.prompt_tokens < tiny_4k.context_length - cfg.max_new_tokens - 1000
    small = GenerationConfig(max_new_tokens=2, max_abstract_tokens=100)
    with pytest.warns(TruncationWarning, match="to 100 tokens"):
        assert generate(tiny_4k, [prompt("k", huge)], small)[0].prompt_tokens <= instructions + 104
    with warnings.catch_warnings():  # an abstract under the cap is left whole
        warnings.simplefilter("error")
        assert not generate(tiny_4k, [prompt("k", "We scale things. " * 50)], cfg)[0].truncated


def test_instructions_longer_than_context_raise_naming_the_paper(tiny):
    p = Prompt(key="2401.00003", system="Rules. " * 100, user="{abstract}", abstract="text")
    with pytest.raises(SummarizerError, match=r"Paper 2401\.00003: the instructions alone"):
        generate(tiny, [p], GenerationConfig(max_new_tokens=32))
    with pytest.raises(SummarizerError, match="leaves no room"):
        generate(tiny, [prompt("x", "y")], GenerationConfig(max_new_tokens=600))


def test_provenance_fields(tiny, tiny_model_dir):
    prov = tiny.provenance
    assert prov["model"] == str(tiny_model_dir) and prov["path"] == str(tiny_model_dir)
    assert (prov["kind"], prov["dtype"], prov["device"]) == ("causal", "float32", "cpu")
    assert set(prov) >= {"revision", "sha256", "preset"}
    assert tiny.context_length == 512 and tiny.tokenizer.padding_side == "left"
    assert tiny.preset is None and tiny.generation == GenerationConfig()


def test_a_local_model_folder_is_named_by_its_weights(tiny, tiny_model_dir, tmp_path):
    """A fine-tuned model under models/<name>/ has no Hub revision: provenance names it by a hash of its weights."""
    import shutil

    prov = tiny.provenance
    assert prov["revision"] is None and len(prov["sha256"]) == 64
    assert prov["sha256"] == loading.dir_sha256(tiny_model_dir)  # the same weights, the same name
    copy = shutil.copytree(tiny_model_dir, tmp_path / "copy")
    assert loading.dir_sha256(copy) == prov["sha256"]
    weights = next(copy.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-1] + b" ")  # one byte of the weights changed
    assert loading.dir_sha256(copy) != prov["sha256"]


def test_auto_dtype_on_cpu_follows_bf16_support(monkeypatch):
    import torch

    monkeypatch.setattr(loading, "cpu_has_bf16", lambda: True)
    assert loading.resolve_dtype("auto") == torch.bfloat16
    monkeypatch.setattr(loading, "cpu_has_bf16", lambda: False)
    assert loading.resolve_dtype("auto") == torch.float32
    assert loading.resolve_dtype("float16") == torch.float16


# --- seq2seq ------------------------------------------------------------------------------------------------------


def test_seq2seq_translator_path(marian):
    assert marian.kind == "seq2seq" and marian.provenance["kind"] == "seq2seq"
    ps = [Prompt(key=f"t{i}", system="ignored by translators", user="{abstract}", abstract=a, target_lang="ko")
          for i, a in enumerate(abstracts(5, seed=4))]
    from summarizer.engine import _encode

    seen = marian.tokenizer.decode(_encode(marian, ps[0]), skip_special_tokens=True)
    assert seen.split() == ps[0].abstract.split()  # translators get the bare abstract: no template, no system
    one = generate(marian, ps, GenerationConfig(max_new_tokens=8, batch_size=1))
    many = generate(marian, ps, GenerationConfig(max_new_tokens=8, batch_size=5))
    assert [g.key for g in many] == [p.key for p in ps]
    assert [(g.text, g.completion_tokens) for g in one] == [(g.text, g.completion_tokens) for g in many]
    for p, g in zip(ps, many, strict=True):
        assert g.prompt_tokens == len(marian.tokenizer(p.abstract)["input_ids"])
        assert 1 <= g.completion_tokens <= 8


def test_seq2seq_target_code_becomes_forced_bos_when_it_is_a_token(marian, monkeypatch):
    from summarizer.engine import _lang_setup

    tok = marian.tokenizer
    kor = tok.convert_tokens_to_ids("k")  # stand-in: a code that is a single token in this vocabulary
    assert _lang_setup(marian, Prompt("a", "", "{abstract}", "x", target_lang="k")) == (None, "k", "", kor)
    assert _lang_setup(marian, Prompt("a", "", "{abstract}", "x", target_lang="kor_Hang"))[3] is None


# --- loading ------------------------------------------------------------------------------------------------------


def test_pickle_only_weights_are_refused_unless_allowed(tiny_model_dir, tmp_path):
    import torch
    from safetensors.torch import load_file

    d = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, d)
    state = load_file(d / "model.safetensors")
    (d / "model.safetensors").unlink()
    torch.save(state, d / "pytorch_model.bin")
    with pytest.raises(SummarizerError, match=r"only pickle weights \(pytorch_model\.bin\).*--allow-pickle"):
        load_model(str(d))
    lm = load_model(str(d), allow_pickle=True, dtype="float32")
    assert lm.kind == "causal"


def test_bad_specs_are_one_line_errors(tmp_path):
    with pytest.raises(SummarizerError, match="GGUF file .* does not exist"):
        load_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(SummarizerError, match="not a file, a directory, a Hugging Face id or a preset"):
        load_model("no such thing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SummarizerError, match="holds no weights"):
        load_model(str(tmp_path / "empty"))


def _fake_hub_cache(root, repo: str, source, commit: str = "c0ffee" * 6 + "abcd"):
    d = root / f"models--{repo.replace('/', '--')}"
    shutil.copytree(source, d / "snapshots" / commit)
    (d / "refs").mkdir()
    (d / "refs" / "main").write_text(commit)
    return commit


def test_hf_id_from_local_cache_offline(tiny_model_dir, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    commit = _fake_hub_cache(tmp_path, "org/tiny", tiny_model_dir)
    lm = load_model("org/tiny", dtype="float32")
    assert lm.provenance["model"] == "org/tiny" and lm.provenance["revision"] == commit
    with pytest.raises(SummarizerError, match="'org/absent' is not in the local Hugging Face cache and HF_HUB_OFFLINE"):
        load_model("org/absent")


def test_preset_file_drives_loading(tiny_model_dir, tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(f"# tiny\nmodel: {tiny_model_dir}\ndtype: float32\nlanguages: [en, ko]\nbatch_size: 3\n")
    lm = load_model(str(path))
    assert lm.preset.name == "tiny" and lm.languages == ("en", "ko") and lm.provenance["preset"] == "tiny"
    assert lm.provenance["dtype"] == "float32" and lm.generation.batch_size == 3


# --- GGUF cache -----------------------------------------------------------------------------------------------------


@pytest.fixture
def fake_gguf(tmp_path, monkeypatch, tiny_model_dir):
    """A small file named .gguf and a dequantizer stand-in writing the tiny model; counts the slow calls.
    (The real streaming dequantizer is tested on real GGUF files in test_gguf.py.)"""
    monkeypatch.setenv("SUMMARIZER_CACHE", str(tmp_path / "cache"))
    calls: list = []

    def dequantize(path, out, dtype):
        calls.append((path, dtype))
        for f in tiny_model_dir.iterdir():
            shutil.copy(f, out / f.name)
        return {"dtype": str(dtype).removeprefix("torch.")}

    monkeypatch.setattr(loading, "_dequantize_gguf", dequantize)
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    return path, calls


def test_gguf_is_dequantized_once_and_cached_by_hash_and_dtype(fake_gguf, tmp_path):
    import torch

    path, calls = fake_gguf
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    first = load_model(str(path), dtype="float32")
    second = load_model(str(path), dtype="float32")
    assert len(calls) == 1 and calls[0][1] == torch.bfloat16  # fp32 runs read a bf16 cache
    assert first.provenance["sha256"] == second.provenance["sha256"] == sha
    assert first.provenance["gguf_cache_dtype"] == "bfloat16" and first.provenance["dtype"] == "float32"
    assert next(first.model.parameters()).dtype == torch.float32
    assert (tmp_path / "cache" / "gguf" / f"{sha}-bfloat16" / "model.safetensors").is_file()
    p = prompt("g", "cache check")
    cfg = GenerationConfig(max_new_tokens=5)
    assert generate(first, [p], cfg)[0].text == generate(second, [p], cfg)[0].text
    half = load_model(str(path), dtype="float16")  # another dtype → its own cache beside the first
    assert len(calls) == 2 and calls[1][1] == torch.float16 and half.provenance["gguf_cache_dtype"] == "float16"
    assert (tmp_path / "cache" / "gguf" / f"{sha}-bfloat16" / loading.CACHE_MARKER).is_file()
    path.write_bytes(b"GGUF" + b"other weights")  # a different file → a different cache entry
    third = load_model(str(path), dtype="float32")
    assert len(calls) == 3 and third.provenance["sha256"] != sha


def test_incomplete_cache_dir_is_rebuilt(fake_gguf, tmp_path):
    path, calls = fake_gguf
    sha = loading.file_sha256(path)
    partial = tmp_path / "cache" / "gguf" / f"{sha}-bfloat16"
    partial.mkdir(parents=True)
    (partial / "config.json").write_text("{}")  # no marker: a killed earlier run
    load_model(str(path), dtype="float32")
    assert len(calls) == 1 and (partial / loading.CACHE_MARKER).is_file()


def test_unwritable_cache_is_a_one_line_error(fake_gguf, tmp_path, monkeypatch):
    path, _ = fake_gguf
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("SUMMARIZER_CACHE", str(blocker))
    with pytest.raises(SummarizerError, match="Could not write the GGUF cache.*SUMMARIZER_CACHE"):
        load_model(str(path))


def test_file_hash_is_remembered_by_path_size_and_mtime(tmp_path, monkeypatch):
    monkeypatch.setenv("SUMMARIZER_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "w.gguf"
    f.write_bytes(b"a" * 1000)
    first = loading.file_sha256(f)
    assert first == hashlib.sha256(b"a" * 1000).hexdigest()
    st = f.stat()
    f.write_bytes(b"b" * 1000)  # same size; restore the mtime → the remembered hash is used, no re-read
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert loading.file_sha256(f) == first
    time.sleep(0.01)
    f.write_bytes(b"b" * 1000)  # new mtime → re-hashed
    assert loading.file_sha256(f) == hashlib.sha256(b"b" * 1000).hexdigest()


# --- the real embedded model ------------------------------------------------------------------------------------------


REAL_ABSTRACT = (
    "Large language models are expensive to run on consumer hardware. We present a method that prunes attention "
    "heads which contribute little to the output, guided by a small calibration set. On four question answering "
    "benchmarks, the pruned models keep 98% of the original accuracy while running 1.7 times faster on a laptop CPU. "
    "We release our code and pruned checkpoints."
)


@pytest.mark.slow
def test_embedded_model_writes_a_sensible_english_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("SUMMARIZER_CACHE", str(tmp_path / "cache"))
    lm = load_model(None)
    assert lm.provenance["sha256"] and lm.languages == ("en",) and lm.context_length == 8192
    # The default model runs with its own preset (models/smollm2-135m.yaml), not the bare GenerationConfig defaults.
    preset = load_preset("smollm2-135m")
    assert lm.preset == preset and lm.generation.token_budget == preset.token_budget != GenerationConfig().token_budget
    lm = load_model(None)  # warm: from the safetensors cache
    p = Prompt(key="2401.99999", system="You are a helpful assistant.",
               user="Summarize the following abstract in one sentence.\n\nAbstract: {abstract}", abstract=REAL_ABSTRACT)
    (gen,) = generate(lm, [p], GenerationConfig(max_new_tokens=60))
    words = gen.text.split()
    assert len(words) >= 5 and gen.completion_tokens > 5
    assert sum(w.isascii() for w in words) / len(words) > 0.9
    assert gen.finished and not gen.truncated
    assert any(w in gen.text.lower() for w in ("prun", "attention", "heads", "accuracy", "benchmark", "faster"))


def test_generate_command(tiny_model_dir):
    from typer.testing import CliRunner

    from summarizer.cli import app

    result = CliRunner().invoke(app, ["generate", "--model", str(tiny_model_dir), "--max-new-tokens", "4",
                                      "--dtype", "float32", "first prompt", "second"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("--- prompt1\n") and "\n--- prompt2\n" in result.stdout
    assert '"dtype": "float32"' in result.stderr and "tok/s" in result.stderr
    bad = CliRunner().invoke(app, ["generate", "--model", "no such model", "x"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: Model 'no such model' is not a file")


def test_the_gguf_converter_bar_is_muted_when_stderr_is_not_a_terminal(capsys):
    from transformers import modeling_gguf_pytorch_utils as converter

    original = converter.tqdm
    with loading.gguf_bars_muted():  # pytest's captured stderr is no terminal, like a log file
        for _ in converter.tqdm(range(3), desc="Converting and de-quantizing GGUF tensors..."):
            pass
    assert capsys.readouterr().err == ""
    assert converter.tqdm is original
    for _ in converter.tqdm(range(3), desc="unmuted"):  # outside it, the bar is the library's own again
        pass
    assert "unmuted" in capsys.readouterr().err


def test_cli_prints_a_shortened_abstract_as_one_clean_line(tiny_model_dir):
    from typer.testing import CliRunner

    from summarizer.cli import app

    long = " ".join(f"word{i}" for i in range(200))
    res = CliRunner().invoke(app, ["generate", long, "--model", str(tiny_model_dir), "--max-new-tokens", "2",
                                   "--dtype", "float32"])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stderr.splitlines() if "shortened" in ln]
    assert lines == [lines[0]] and lines[0].startswith("warning: Paper prompt1: abstract shortened from 1489 to ")
    assert "engine.py" not in res.stderr and "TruncationWarning" not in res.stderr and "_run_local" not in res.stderr
