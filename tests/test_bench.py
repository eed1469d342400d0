"""scripts/bench.py's pure parts: the day fixture, the waste figures, the model shapes, the llama.cpp comparison."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
from conftest import load_script

from summarizer import compose
from summarizer.config import GenerationConfig
from summarizer.engine import BatchRecord

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    return load_script("bench")


def test_the_day_is_fourteen_papers_of_realistic_length(bench):
    prompts = bench.day_prompts("en-bullets")
    words = [len(p.abstract.split()) for p in prompts]
    assert len(prompts) == 14 and len({p.key for p in prompts}) == 14
    assert min(words) >= 113 and max(words) == 259 and max(words) - min(words) > 120  # a real day's spread
    assert all(p.prefill == "-" and p.abstract in p.filled() for p in prompts)  # the style's own prompt
    assert [p.key for p in bench.day_prompts("zh-digest", limit=3)] == [p.key for p in prompts[:3]]


def test_waste_counts_padding_and_stopped_rows(bench):
    records = [
        BatchRecord(prompt_tokens=(100, 80), completion_tokens=(10, 40), steps=40, seconds=1.0),
        BatchRecord(prompt_tokens=(50,), completion_tokens=(20,), steps=20, seconds=1.0),
    ]
    # prompt slots 2×100 + 50 = 250 of which 20 padding; decode slots 2×40 + 20 = 100 of which 30 after a stop
    assert bench.waste(records) == {"batches": 2, "prompt_padding_pct": 8.0, "prompt_reused_pct": 0.0,
                                    "decode_waste_pct": 30.0}
    assert bench.waste([]) == {"batches": 0, "prompt_padding_pct": 0.0, "prompt_reused_pct": 0.0,
                               "decode_waste_pct": 0.0}
    # From the prompt store: each row ran only its own unpadded tokens, 40 + 1 of the 180 in its prompts
    stored = [BatchRecord(prompt_tokens=(100, 80), completion_tokens=(10, 40), steps=40, seconds=1.0, prefilled=(40, 1))]
    assert bench.waste(stored) == {"batches": 1, "prompt_padding_pct": 0.0, "prompt_reused_pct": 77.2,
                                   "decode_waste_pct": 37.5}


@pytest.mark.parametrize("name, params, step_gb", [
    ("qwen2.5-0.5b-instruct", 494_032_768, 0.988),  # published: 0.49B; tied, so the embedding is read as lm_head
    ("qwen2.5-7b-instruct", 7_615_616_512, 14.141),  # published: 7.61B; the untied input embedding is not read
])
def test_shipped_shapes_are_the_published_models(bench, name, params, step_gb):
    import torch

    model = bench.shape_model(ROOT / "tests" / "fixtures" / f"{name}.config.json", torch.bfloat16)  # on "meta"
    assert sum(p.numel() for p in model.parameters()) == params
    assert round(bench.bytes_per_decode_step(model) / 1e9, 3) == step_gb


FAKE_LLAMA_CPP = {
    "absent": "raise ImportError('no llama_cpp here')\n",
    "works": (
        "import json, os\n"
        "class Llama:\n"
        "    def __init__(self, model_path, n_ctx, n_threads, verbose):\n"
        "        self.log = open(os.environ['FAKE_LLAMA_LOG'], 'a')\n"
        "        self.log.write(json.dumps(['init', model_path, n_ctx]) + '\\n')\n"
        "    def __call__(self, text, max_tokens, temperature):\n"
        "        self.log.write(json.dumps([text, max_tokens, temperature]) + '\\n'); self.log.flush()\n"
        "        return {'usage': {'completion_tokens': 7}}\n"
    ),
    # The day's work: a reply of three bullets to every call, each call logged (its prompt ids and limits).
    "day": (
        "import json, os\n"
        "LogitsProcessorList = StoppingCriteriaList = list\n"
        "class Llama:\n"
        "    def __init__(self, **kw):\n"
        "        self.log = open(os.environ['FAKE_LLAMA_LOG'], 'a')\n"
        "    def create_completion(self, prompt, max_tokens, stop, **kw):\n"
        "        self.log.write(json.dumps([prompt, max_tokens, kw['temperature']]) + '\\n'); self.log.flush()\n"
        "        return {'choices': [{'text': ' A first point.\\n- A second point.\\n- A third point.',\n"
        "                             'finish_reason': 'stop'}], 'usage': {'completion_tokens': 9}}\n"
    ),
    # A native build that dies on its first prompt, as a llama.cpp build for another CPU does.
    "crashes": (
        "import os, signal\n"
        "class Llama:\n"
        "    def __init__(self, **kw): pass\n"
        "    def __call__(self, *a, **kw): os.kill(os.getpid(), signal.SIGSEGV)\n"
    ),
}


def fake_llama_cpp(tmp_path, monkeypatch, kind: str) -> Path:
    """A `llama_cpp` module on the child's path, and the file its calls are written to."""
    where = tmp_path / kind
    where.mkdir()
    (where / "llama_cpp.py").write_text(FAKE_LLAMA_CPP[kind])
    monkeypatch.setenv("PYTHONPATH", f"{where}:{ROOT}")
    monkeypatch.setenv("FAKE_LLAMA_LOG", str(tmp_path / "calls.jsonl"))
    return tmp_path / "calls.jsonl"


def test_llama_cpp_is_timed_on_the_same_chat_texts_in_a_child_process(bench, monkeypatch, tiny_model_dir, tmp_path):
    from summarizer.engine import chat_text, load_model

    lm = load_model(str(tiny_model_dir), dtype="float32")
    prompts = bench.day_prompts("en-bullets", limit=2)
    fake_llama_cpp(tmp_path, monkeypatch, "absent")
    assert bench.run_llama_cpp(Path("m.gguf"), lm, prompts, 200, 0).startswith("skipped: llama_cpp is not importable")
    log = fake_llama_cpp(tmp_path, monkeypatch, "works")
    result = bench.run_llama_cpp(Path("m.gguf"), lm, prompts, 200, 0)
    assert result["papers"] == 2 and result["tokens"] == 14 and result["tok_s"] > 0
    seen = [json.loads(line) for line in log.read_text().splitlines()]
    assert seen[0] == ["init", "m.gguf", lm.context_length]
    assert seen[1:] == [[chat_text(lm.tokenizer, p), 200, 0.0] for p in prompts]


def test_llama_cpp_runs_the_same_days_work_in_a_child_process(bench, monkeypatch, tiny_long_context_dir, tmp_path):
    """The day row: compose.write's calls for the style, each prompt's ids as the engine fits them, answered by
    llama.cpp; the papers per minute of the whole day."""
    from summarizer import engine
    from summarizer.engine import load_model

    lm = load_model(str(tiny_long_context_dir), dtype="float32")
    prompts = bench.day_prompts("en-bullets", limit=2)
    log = fake_llama_cpp(tmp_path, monkeypatch, "day")
    result = bench.run_llama_cpp(Path("m.gguf"), lm, prompts, 200, 0, spec=str(tiny_long_context_dir),
                                 style_name="en-bullets", limit=2)
    assert result["papers"] == 2 and result["tokens"] == 18 and result["papers_per_min"] > 0
    seen = [json.loads(line) for line in log.read_text().splitlines()]
    cfg = bench.style_config(lm, "en-bullets")
    assert seen == [[engine._fit(lm, p, cfg)[0], cfg.max_new_tokens, 0.0] for p in prompts]  # three bullets: no redraw


class FakeLlama:
    """llama.cpp's completion loop in small: each step the callbacks see the ids so far and the scores, the highest
    score is taken (temperature 0), the stopping criteria and max_tokens end it."""

    def __init__(self, prefer: list[int], vocab: int, decode):
        self.prefer, self.vocab, self.decode, self.calls = prefer, vocab, decode, []

    def create_completion(self, prompt, max_tokens, stop, logits_processor, stopping_criteria, **kw):
        import numpy as np

        self.calls.append(dict(prompt=prompt, max_tokens=max_tokens, stop=stop, **kw))
        ids, out = list(prompt), []
        for step in range(max_tokens):
            scores = np.full(self.vocab, 0.5, dtype=np.float32)
            scores[self.prefer[step % len(self.prefer)]] = 2.0
            scores[self.prefer] += 1.0  # the preferred tokens next, in order of their ids
            for f in logits_processor or ():
                scores = f(np.array(ids), scores)
            ids.append(int(scores.argmax()))
            out.append(ids[-1])
            if any(f(np.array(ids), scores) for f in stopping_criteria or ()):
                return {"choices": [{"text": self.decode(out), "finish_reason": "stop"}],
                        "usage": {"completion_tokens": len(out)}}
        return {"choices": [{"text": self.decode(out), "finish_reason": "length"}],
                "usage": {"completion_tokens": len(out)}}


def test_llama_cpp_generate_applies_the_engines_limits_as_callbacks(bench, monkeypatch, tiny_model_dir):
    """The line limit stops a reply; suppressed tokens, the repetition penalty and no_repeat_ngram_size change the
    scores as transformers would; greedy is temperature 0, a sampled call passes its settings and a per-row seed."""
    import types

    from summarizer import engine
    from summarizer.engine import load_model

    lm = load_model(str(tiny_model_dir), dtype="float32")
    tok = lambda ch: lm.tokenizer(ch, add_special_tokens=False)["input_ids"][0]  # noqa: E731  (one token a byte)
    x, nl = tok("x"), tok("\n")
    monkeypatch.setattr(engine, "_newline_ids", lambda t: frozenset({nl}))
    fake = types.SimpleNamespace(LogitsProcessorList=list, StoppingCriteriaList=list)
    prompts = [bench.Prompt(key="p", system="S", user="Say {abstract}", abstract="xy")]
    llm = FakeLlama([x, nl], len(lm.tokenizer), lm.tokenizer.decode)
    base = GenerationConfig(max_new_tokens=9, suppress_other_scripts=False)
    [free] = bench.llama_cpp_generate(fake, llm, lm, prompts, base)
    assert (free.completion_tokens, free.finished) == (9, False)
    [lines] = bench.llama_cpp_generate(fake, llm, lm, prompts, GenerationConfig(max_new_tokens=9, max_lines=2,
                                                                               suppress_other_scripts=False))
    assert (lines.completion_tokens, lines.finished, lines.text) == (4, True, "x\nx")
    assert llm.calls[-1]["prompt"] == engine._fit(lm, prompts[0], base)[0] and llm.calls[-1]["temperature"] == 0.0
    monkeypatch.setattr(engine, "_suppressed", lambda t, ps: [x])
    [banned] = bench.llama_cpp_generate(fake, llm, lm, prompts, GenerationConfig(max_new_tokens=4, max_lines=1))
    assert "x" not in banned.text
    # Only "x" preferred: "xx" once written (the prompt holds "xy"), a 2-gram ban leaves no third "x"
    xs = FakeLlama([x], len(lm.tokenizer), lm.tokenizer.decode)
    assert bench.llama_cpp_generate(fake, xs, lm, prompts, base)[0].text == "x" * 9
    [fresh] = bench.llama_cpp_generate(fake, xs, lm, prompts, dataclasses.replace(base, no_repeat_ngram_size=2))
    assert fresh.text.startswith("xx") and "xxx" not in fresh.text
    [penalized] = bench.llama_cpp_generate(fake, xs, lm, prompts, dataclasses.replace(base, repetition_penalty=8.0))
    assert "x" not in penalized.text  # the prompt holds "x": its score 3.5 / 8 falls below an unseen token's 0.5
    [sampled] = bench.llama_cpp_generate(fake, llm, lm, prompts, dataclasses.replace(base, do_sample=True, seed=4))
    assert llm.calls[-1]["temperature"] == 0.7 and llm.calls[-1]["top_p"] == 0.9 and llm.calls[-1]["top_k"] == 50
    assert llm.calls[-1]["seed"] == bench.row_seed(4, llm.calls[-1]["prompt"]) % 2**31


def test_a_llama_cpp_crash_is_its_own_row_and_the_bench_goes_on(bench, monkeypatch, tiny_model_dir, tmp_path):
    from summarizer.engine import load_model

    lm = load_model(str(tiny_model_dir), dtype="float32")
    fake_llama_cpp(tmp_path, monkeypatch, "crashes")
    result = bench.run_llama_cpp(Path("m.gguf"), lm, bench.day_prompts("en-bullets", limit=1), 200, 0)
    assert result.startswith("failed: the llama.cpp child ended with signal 11")


def test_style_config_is_what_digest_runs(bench, tiny_model_dir):
    from summarizer.digest import generation_config
    from summarizer.engine import load_model

    lm = load_model(str(tiny_model_dir), dtype="float32")
    ours = bench.style_config(lm, "zh-digest")
    assert ours == generation_config(lm, bench.STYLES["zh-digest"], {"progress": False})
    assert isinstance(ours, GenerationConfig) and ours.max_new_tokens == 600


@pytest.mark.parametrize("seed", range(20))
def test_planner_never_pads_more_than_the_old_greedy_fill(bench, seed):
    import random

    rng = random.Random(seed)
    lengths = [rng.randint(150, 450) for _ in range(rng.randint(1, 40))]
    cfg = GenerationConfig(batch_size=rng.randint(1, 16), token_budget=rng.randint(2000, 20000), max_new_tokens=200,
                           max_padding=1.0)
    greedy = bench.plan_padding(lengths, bench.greedy_plan(lengths, cfg))
    ours = bench.plan_padding(lengths, bench.plan_batches(lengths, cfg))
    assert ours[0] <= greedy[0] and (ours[0] < greedy[0] or ours[1] <= greedy[1])


def test_continuous_batching_wastes_only_what_it_decoded_past_a_stop(bench):
    record = BatchRecord(prompt_tokens=(100, 80), completion_tokens=(10, 40), steps=50, seconds=1.0, decoded=(30, 40),
                         padded=False)
    # no padding; 70 tokens decoded, of which 20 after row 0's line limit (generate_batch cannot stop there)
    assert bench.waste([record]) == {"batches": 1, "prompt_padding_pct": 0.0, "prompt_reused_pct": 0.0,
                                     "decode_waste_pct": 28.6}


def test_the_day_runs_static_then_continuous_where_the_settings_allow_it(bench, tiny_model_dir):
    from summarizer.engine import load_model

    lm = load_model(str(tiny_model_dir), dtype="float32")
    runs, skipped = bench.batching_runs(lm, GenerationConfig(), 0.1, continuous=True)
    assert [(label, c.batching, c.max_padding) for label, c in runs] == [
        ("static, max_padding 1", "static", 1.0), ("static, max_padding 0.1", "static", 0.1),
        ("continuous", "continuous", 1.0)] and skipped is None
    runs, skipped = bench.batching_runs(lm, GenerationConfig(repetition_penalty=1.1), 0, continuous=True)
    assert [label for label, _ in runs] == ["static, max_padding 1"]
    assert skipped.startswith("Continuous batching cannot run repetition_penalty 1.1")
    assert bench.batching_runs(lm, GenerationConfig(), 0, continuous=False)[1] == "--no-continuous"
    runs, _ = bench.batching_runs(lm, GenerationConfig(), 0, continuous=False, compare_drop=0)  # the A/B of the default
    assert [(label, c.drop_finished) for label, c in runs] == [("static, max_padding 1", 0.25),
                                                               ("static, drop_finished 0", 0.0)]
    runs, _ = bench.batching_runs(lm, GenerationConfig(), 0, continuous=False, compare_prepack=True)
    assert [(label, c.prepack_weights) for label, c in runs] == [("static, max_padding 1", True),
                                                                 ("static, weights as loaded", False)]


def test_peak_rss_sees_memory_taken_inside_the_block(bench):
    if not Path("/proc/self/statm").exists():
        pytest.skip("no /proc here")
    with bench.peak_rss() as memory:
        block = bytearray(64 << 20)
        block[::4096] = b"x" * len(range(0, 64 << 20, 4096))  # touch every page: calloc'd pages are not resident yet
    assert memory["rss_growth_mib"] >= 48 and memory["peak_rss_mib"] >= memory["rss_growth_mib"]


@pytest.mark.slow  # two fresh processes load a model, and two generation runs: a minute or more on 2 cores
def test_one_make_bench_run_reports_the_day_the_naive_ratio_and_the_load(bench, tiny_long_context_dir, monkeypatch,
                                                                         capsys, tmp_path):
    """#11: one run prints papers/min with padding and decode waste, the engine over the naive loop, the llama.cpp
    line, and a cold and a warm load with peak RSS and cache size."""
    fake_llama_cpp(tmp_path, monkeypatch, "absent")
    # A random model's bullets all break rules, so each would be drawn again from its first item: rounds of their
    # own that this test's batch counts leave out.
    monkeypatch.setattr(compose, "ITEM_REDRAWS", 0)
    monkeypatch.setattr(sys, "argv", ["bench.py", "--model", str(tiny_long_context_dir), "--limit", "2",
                                      "--no-continuous", "--compare-padding", "0", "--threads", "1"])
    assert bench.main() == 0
    out = capsys.readouterr().out
    report = json.loads(out.strip().splitlines()[-1])
    plans = [r["plan"] for r in report["runs"]]
    # The default plan, the same with stopped rows kept (--compare-drop, default 0), with the linear weights as loaded
    # (fp32 here: its texts may differ in a random model's near-ties), then the naive loop.
    assert plans == ["static, max_padding 1", "static, drop_finished 0", "static, weights as loaded",
                     "one at a time (naive loop)"]
    assert report["runs"][1]["same_text_as_first"] == 2
    assert report["runs"][3]["batches"] == 2 and report["runs"][3]["prompt_padding_pct"] == 0.0
    assert report["engine_over_naive_papers_per_min"] > 0 and "naive loop papers per minute" in out
    assert {"decode_waste_pct", "prompt_padding_pct", "papers_per_min"} <= set(report["runs"][0])
    load = report["load"]
    assert load["model"] == str(tiny_long_context_dir) and load["cold"]["load_s"] > 0 and load["warm"]["peak_rss_kib"] > 0
    assert "cache on disk" in out and "Loading" in out


def test_the_load_child_starts_after_the_gpu_cache_is_released_and_reports_gpu_memory(bench, monkeypatch, tmp_path):
    import subprocess

    import torch

    events = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: events.append("empty_cache"))

    def child(cmd, **kwargs):
        events.append("child")
        assert "max_memory_allocated" in cmd[2]  # the child reports its own peak GPU memory
        line = {"import_s": 1.0, "load_s": 2.0, "dtype": "bfloat16", "cache_dtype": None, "peak_rss_kib": 1,
                "peak_gpu_mib": 3}
        return subprocess.CompletedProcess(cmd, 0, stdout=json.dumps(line) + "\n", stderr="")

    monkeypatch.setattr(bench.subprocess, "run", child)
    assert bench.load_once("embedded", "auto", tmp_path, 0)["peak_gpu_mib"] == 3
    assert events == ["empty_cache", "child"]


def test_each_plan_starts_from_an_empty_prompt_store(bench, tiny_long_context_dir, monkeypatch):
    """A plan timed after another must not reuse the prompts the other ran: each prefills as a fresh digest would."""
    from summarizer.engine import load_model

    monkeypatch.setattr(compose, "ITEM_REDRAWS", 0)  # one round: the random model's bullets all break rules
    lm = load_model(str(tiny_long_context_dir), dtype="float32")
    prompts = bench.day_prompts("en-bullets", limit=2)
    cfg = bench.style_config(lm, "en-bullets", max_new_tokens=3)
    first, second = (bench.run_style(lm, "en-bullets", prompts, cfg) for _ in range(2))
    assert first["prompt_reused_pct"] == second["prompt_reused_pct"] < 50
