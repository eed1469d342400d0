"""Continuous batching (batching="continuous", transformers' generate_batch) behind engine.generate, on the tiny model:
the same Generations as static batches, the limits it cannot stop at, the settings it cannot run, and `auto`."""

from __future__ import annotations

import dataclasses
import random

import pytest

from summarizer import SummarizerError, engine
from summarizer.config import GenerationConfig, load_preset
from summarizer.engine import TruncationWarning, batching_mode, generate, load_model
from summarizer.prompt import Prompt


def prompts(n: int, seed: int = 1) -> list[Prompt]:
    rng = random.Random(seed)
    words = "we propose a sparse model that learns long context retrieval with fewer tokens".split()
    return [Prompt(key=f"k{i}", system="You summarize.", user="Summarize:\n{abstract}",
                   abstract=" ".join(rng.choice(words) for _ in range(rng.randint(3, 40)))) for i in range(n)]


def outcome(gens) -> list[tuple]:
    return [(g.key, g.text, g.prompt_tokens, g.completion_tokens, g.finished, g.truncated) for g in gens]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir), dtype="float32")


def test_greedy_continuous_equals_static_in_input_order_with_one_on_result_per_paper(tiny):
    ps = prompts(7) + [Prompt(key="long", system="", user="{abstract}",
                              abstract=" ".join(f"word{i}" for i in range(200)))]  # shortened to fit 512 positions
    cfg = GenerationConfig(max_new_tokens=24, batch_size=3)
    with pytest.warns(TruncationWarning):
        static = generate(tiny, ps, dataclasses.replace(cfg, batching="static"))
    seen: list[int] = []
    with pytest.warns(TruncationWarning, match="Paper long: abstract shortened"):
        with engine.recording() as log:
            cont = generate(tiny, ps, dataclasses.replace(cfg, batching="continuous"),
                            on_result=lambda i, g: seen.append(i))
    assert outcome(cont) == outcome(static)
    assert [g.key for g in cont] == [p.key for p in ps] and sorted(seen) == list(range(len(ps)))
    assert cont[-1].truncated and all(g.seconds > 0 for g in cont)
    [record] = log  # one generate_batch call for every prompt: no padding, a slot per decoded token
    assert record.prompt_tokens == tuple(g.prompt_tokens for g in cont)
    assert record.decoded == record.completion_tokens == tuple(g.completion_tokens for g in cont)


def test_line_limits_and_stop_strings_cut_a_continuous_row_where_static_stops_it(tiny, monkeypatch):
    """generate_batch has no stopping criteria: the row decodes on, and the engine cuts it at the same token."""
    ps = prompts(4, seed=4)
    free = generate(tiny, ps, GenerationConfig(max_new_tokens=16, batching="static"))
    stop = free[0].text[5:8]
    for extra in ({"stop_strings": (stop,)}, {"max_lines": 3}):
        cfg = GenerationConfig(max_new_tokens=16, **extra)
        static = generate(tiny, ps, dataclasses.replace(cfg, batching="static"))
        with engine.recording() as log:
            cont = generate(tiny, ps, dataclasses.replace(cfg, batching="continuous"))
        assert outcome(cont) == outcome(static)
        assert log[0].decoded == (16,) * 4  # what it really decoded, for the bench's waste figure
        assert cont[0].finished and cont[0].completion_tokens < 16  # row 0 writes the stop string, and line breaks
    monkeypatch.setattr(engine, "_newline_ids", lambda tok: frozenset(range(len(tok))))  # every token a line break
    cut = generate(tiny, ps, GenerationConfig(max_new_tokens=16, max_lines=5, batching="continuous"))
    assert [(g.completion_tokens, g.finished) for g in cut] == [(5, True)] * 4


def test_what_auto_and_continuous_run(tiny, tiny_marian_dir, monkeypatch):
    greedy = GenerationConfig()
    assert batching_mode(tiny, greedy) == "static"  # auto on a CPU: static, measured faster (make bench)
    assert batching_mode(tiny, dataclasses.replace(greedy, batching="continuous")) == "continuous"
    sampled = dataclasses.replace(greedy, batching="continuous", do_sample=True)
    assert batching_mode(tiny, sampled) == "static"  # seeded draws must repeat
    monkeypatch.setitem(engine.AUTO_BATCHING, "cpu", "continuous")
    assert batching_mode(tiny, greedy) == "continuous"
    assert batching_mode(tiny, dataclasses.replace(greedy, repetition_penalty=1.1)) == "static"
    marian = load_model(str(tiny_marian_dir), dtype="float32")
    assert batching_mode(marian, greedy) == "static"
    for model, changes, what in ((tiny, {"repetition_penalty": 1.1}, "repetition_penalty 1.1"),
                                 (tiny, {"num_beams": 2}, "num_beams 2"), (marian, {}, "a seq2seq model")):
        cfg = dataclasses.replace(greedy, batching="continuous", **changes)
        with pytest.raises(SummarizerError, match=f"^Continuous batching cannot run {what}; set batching"):
            generate(model, prompts(1), cfg)


def test_a_failed_continuous_call_is_an_error_not_missing_papers(tiny, monkeypatch):
    from transformers.generation.continuous_batching.requests import GenerationOutput

    def partial(rows, **kwargs):
        return {"req_0": GenerationOutput(request_id="req_0", prompt_ids=rows[0], generated_tokens=[5, 6])}

    monkeypatch.setattr(tiny.model, "generate_batch", partial)
    with pytest.raises(SummarizerError, match=r"returned 1 of 2 replies .*; set batching to static\.$"):
        generate(tiny, prompts(2), GenerationConfig(max_new_tokens=4, batching="continuous"))


def test_batching_must_be_a_known_mode(tmp_path, tiny_model_dir):
    from typer.testing import CliRunner

    from summarizer.cli import app

    with pytest.raises(SummarizerError, match="^Generation setting batching must be one of auto, static, "
                                              "continuous, got 'dynamic'.$"):
        GenerationConfig(batching="dynamic")
    path = tmp_path / "p.yaml"
    path.write_text("# mine\nmodel: org/m\nbatching: continuous\n")
    assert load_preset(str(path)).generation_config().batching == "continuous"
    path.write_text("# mine\nmodel: org/m\nbatching: paged\n")
    with pytest.raises(SummarizerError, match=r"p\.yaml: batching 'paged' is not one of auto, static, continuous"):
        load_preset(str(path))
    bad = CliRunner().invoke(app, ["generate", "--model", "no such model", "--batching", "dynamic", "x"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: Generation setting batching must be one of")
    ok = CliRunner().invoke(app, ["generate", "--model", str(tiny_model_dir), "--max-new-tokens", "3",
                                  "--dtype", "float32", "--batching", "continuous", "a prompt"])
    assert ok.exit_code == 0, ok.output
    assert '"batching": "continuous"' in ok.stderr


@pytest.mark.parametrize(("changes", "what"), [({"no_repeat_ngram_size": 3}, "no_repeat_ngram_size 3"),
                                               ({"repetition_penalty": 1.1}, "repetition_penalty 1.1")])
def test_settings_generate_batch_does_not_honour_fall_back_to_static_or_are_an_error(tiny, monkeypatch, changes, what):
    """Derived from the processors generate_batch would build: no_repeat_ngram_size (a Chinese section round's) would
    be fed one token id per row; auto runs such a call static, continuous by name refuses it in one line."""
    monkeypatch.setitem(engine.AUTO_BATCHING, "cpu", "continuous")  # as a GPU's auto might
    cfg = GenerationConfig(max_new_tokens=4, **changes)
    assert engine.continuous_unsupported(tiny, cfg) == [what]
    assert batching_mode(tiny, cfg) == "static"
    assert outcome(generate(tiny, prompts(9), cfg)) == outcome(generate(tiny, prompts(9), dataclasses.replace(
        cfg, batching="static")))  # 9 rows: generate_batch would have raised IndexError on the ngram processor
    with pytest.raises(SummarizerError, match=f"^Continuous batching cannot run {what}; set batching to static or "
                                              "auto.$"):
        generate(tiny, prompts(2), dataclasses.replace(cfg, batching="continuous"))


def test_what_generate_batch_honours_runs_continuous(tiny):
    """Greedy with the other-script ban (SuppressTokens reads the scores only) and sampling knobs left unset."""
    cfg = GenerationConfig(batching="continuous", suppress_other_scripts=True)
    assert engine.continuous_unsupported(tiny, cfg) == []
    assert batching_mode(tiny, cfg) == "continuous"
