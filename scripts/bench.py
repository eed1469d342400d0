"""`make bench`: generation speed on the work users run, on this machine. Not a test: numbers depend on the machine
and its load, so compare ratios within one run. Every mode prints a table and one JSON line.

  (default)             a day's papers (tests/fixtures/bench-day.xml: 14 invented abstracts of 116-259 words) through
                        the style's real prompts (prompt.build_prompt), its max_new_tokens and section rounds
                        (compose.write), on the embedded model: papers/minute, tok/s, prompt padding waste, decode
                        waste (slots of rows that had already stopped) and peak RSS, in static batches at the preset's
                        max_padding and at --compare-padding, and with continuous batching (generate_batch; skipped
                        where the model's settings rule it out); and the padding each plan gives the day's prompt
                        lengths per batch size (computed). When llama_cpp is importable, llama.cpp at batch 1: the
                        chat texts once (tok/s ratio), and the same day's work, every engine call of compose.write
                        answered one prompt at a time (papers/min ratio); else it says it skipped it.
  --zh                  also a Chinese style (--zh-style) on the multilingual model (slow on a CPU: use --limit).
  --load-model SPEC     cold load of SPEC ("embedded", a preset, a .gguf) into an empty cache, in a fresh process:
                        seconds, peak RSS, cache size on disk; then a warm load.
  --random-weights CFG  a model shape (a config.json, e.g. tests/fixtures/qwen2.5-7b-instruct.config.json) with random
                        weights and the embedded model's tokenizer: decode tokens/s per batch size next to the
                        memory-bandwidth ceiling (weight bytes read per decode step / bandwidth). Nothing downloaded.
  --workload synthetic  the earlier bench: a naive per-prompt loop vs the engine on synthetic prompts, fp32 vs bf16.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

T0 = time.perf_counter()
import torch  # noqa: E402  (imported here so that import time is reported apart from load time)
import transformers  # noqa: E402, F401

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from summarizer import SummarizerError, compose, engine, loading  # noqa: E402
from summarizer.config import GenerationConfig  # noqa: E402
from summarizer.engine import chat_text, generate, load_model, plan_batches  # noqa: E402
from summarizer.loading import cache_root, resolve_dtype  # noqa: E402
from summarizer.papers import parse_feed  # noqa: E402
from summarizer.prompt import Prompt, build_prompt  # noqa: E402
from summarizer.sampling import row_seed  # noqa: E402
from summarizer.styles import STYLES  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - T0
DAY_FEED = ROOT / "tests" / "fixtures" / "bench-day.xml"
MULTILINGUAL = "qwen2.5-coder-0.5b"

# Peak memory bandwidth in GB/s by CUDA device name (first substring match; vendor datasheets). --bandwidth-gbs wins.
# A CPU's is measured instead (see measure_cpu_bandwidth): datasheet numbers are far from what 2 cores can pull.
GPU_BANDWIDTH_GBS = (
    ("H200", 4800),  # HBM3e
    ("H100 NVL", 3900),
    ("H100 PCIe", 2000),
    ("H100", 3350),  # SXM, HBM3 ("NVIDIA H100 80GB HBM3")
    ("A100-SXM4-80GB", 2039),
    ("A100 80GB PCIe", 1935),
    ("A100", 1555),  # 40 GB
    ("L40S", 864),
    ("L4", 300),
    ("A10G", 600),
    ("RTX 4090", 1008),
)


# --- the day workload ------------------------------------------------------------------------------------------------


def day_prompts(style_name: str, feed: Path = DAY_FEED, limit: int = 0) -> list[Prompt]:
    papers, _ = parse_feed(feed.read_bytes(), "2026-11-20", str(feed))
    papers = papers[:limit] if limit else papers
    return [build_prompt(STYLES[style_name], p) for p in papers]


def waste(records: list[engine.BatchRecord]) -> dict:
    """Batches, prompt padding % (prompt slots run through the model holding no token), prompt tokens reused % (taken
    from the prompt store, not run again) and decode waste % (decode slots of rows that had already stopped: a static
    batch decodes until its last row stops, less the rows it drops; continuous batching holds no slot for a stopped
    row, but decodes past a stop string or line limit), from the engine's batch records."""
    def run(r):  # (prompt slots run, real prompt tokens run)
        if r.prefilled is not None:
            return sum(r.prefilled), sum(r.prefilled)
        return (len(r.prompt_tokens) * max(r.prompt_tokens) if r.padded else sum(r.prompt_tokens)), sum(r.prompt_tokens)

    slots = sum(run(r)[0] for r in records)
    real = sum(run(r)[1] for r in records)
    prompt = sum(sum(r.prompt_tokens) for r in records)
    decode_slots = sum(sum(r.decoded) if r.decoded else len(r.completion_tokens) * r.steps for r in records)
    decoded = sum(sum(r.completion_tokens) for r in records)
    return {"batches": len(records),
            "prompt_padding_pct": round(100 * (1 - real / slots), 1) if slots else 0.0,
            "prompt_reused_pct": round(100 * (1 - real / prompt), 1) if prompt else 0.0,
            "decode_waste_pct": round(100 * (1 - decoded / decode_slots), 1) if decode_slots else 0.0}


def greedy_plan(lengths: list[int], config: GenerationConfig) -> list[list[int]]:
    """The plan before #11, for comparison: longest first, each batch filled to batch_size / token_budget in turn."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    for i in order:
        if batches:
            rows = len(batches[-1]) + 1
            cost = rows * config.num_beams * (lengths[batches[-1][0]] + config.max_new_tokens)
            if rows <= config.batch_size and cost <= config.token_budget:
                batches[-1].append(i)
                continue
        batches.append([i])
    return batches


def plan_padding(lengths: list[int], batches: list[list[int]]) -> tuple[int, float]:
    """(batches, prompt padding %) of a plan."""
    slots = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return len(batches), round(100 * (1 - sum(lengths) / slots), 1)


def plan_table(lengths: list[int], config: GenerationConfig, batch_sizes=(16, 8, 6, 4)) -> list[dict]:
    """Padding of the day's real prompt lengths under each plan, per batch size (computed, nothing generated)."""
    rows = []
    for bs in batch_sizes:
        cfg = dataclasses.replace(config, batch_size=bs, max_padding=1.0)
        rows.append({"batch_size": bs, "greedy": plan_padding(lengths, greedy_plan(lengths, cfg)),
                     "planner": plan_padding(lengths, plan_batches(lengths, cfg)),
                     "planner_0.1": plan_padding(lengths, plan_batches(lengths, dataclasses.replace(cfg, max_padding=0.1)))})
    return rows


@contextlib.contextmanager
def peak_rss():
    """Samples this process's resident memory every 20 ms while the block runs; the yielded dict then holds the
    peak (MiB) and its growth over the RSS at the start (Linux /proc; elsewhere it stays empty)."""
    statm, out = Path("/proc/self/statm"), {}
    if not statm.exists():
        yield out
        return
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        return int(statm.read_text().split()[1]) * page

    start, done, peak = rss(), threading.Event(), [0]

    def sample():
        while not done.wait(0.02):
            peak[0] = max(peak[0], rss())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        done.set()
        thread.join()
        top = max(peak[0], rss(), start)
        out.update(peak_rss_mib=round(top / (1 << 20)), rss_growth_mib=round((top - start) / (1 << 20)))


def run_style(lm, style_name: str, prompts: list[Prompt], config: GenerationConfig) -> dict:
    """The style's real work (compose.write: one pass, or one round per section) timed, with its waste figures and
    its peak memory. It starts from an empty prompt store, as `summarizer digest` does: no plan reuses the prompts an
    earlier plan ran."""
    engine._STORES.pop(lm.model, None)
    with engine.recording() as records, peak_rss() as memory:
        started = time.perf_counter()
        gens = compose.write(lm, STYLES[style_name], prompts, config)
        seconds = time.perf_counter() - started
    tokens = sum(g.completion_tokens for g in gens)
    return {"papers": len(gens), "seconds": round(seconds, 1), "papers_per_min": round(60 * len(gens) / seconds, 2),
            "tokens": tokens, "tok_s": round(tokens / seconds, 1), **waste(records), **memory,
            "texts": [g.text for g in gens]}


def batching_runs(lm, config: GenerationConfig, compare_padding: float, continuous: bool,
                  compare_drop: float = -1, compare_prepack: bool = False) -> tuple[list, str | None]:
    """(label, config) of each run: static at the preset's max_padding and at compare_padding, static at the preset's
    max_padding with drop_finished compare_drop (the default's A/B: 0 = every batch in one generate call), the default
    with every linear layer as loaded (compare_prepack: the A/B of prepack_weights), then continuous batching; and why
    continuous was left out (None when it runs)."""
    static = dataclasses.replace(config, batching="static")
    runs = [(f"static, max_padding {config.max_padding:g}", static)]
    if compare_padding and compare_padding != config.max_padding:
        runs.append((f"static, max_padding {compare_padding:g}",
                     dataclasses.replace(static, max_padding=compare_padding)))
    if compare_drop >= 0 and compare_drop != config.drop_finished:
        runs.append((f"static, drop_finished {compare_drop:g}", dataclasses.replace(static, drop_finished=compare_drop)))
    if compare_prepack and config.prepack_weights:
        runs.append(("static, weights as loaded", dataclasses.replace(static, prepack_weights=False)))
    if not continuous:
        return runs, "--no-continuous"
    cont = dataclasses.replace(config, batching="continuous")
    try:
        engine.batching_mode(lm, cont)
    except SummarizerError as exc:
        return runs, str(exc)
    return runs + [("continuous", cont)], None


def style_config(lm, style_name: str, **changes) -> GenerationConfig:
    """What `summarizer digest` runs a style with (digest.generation_config): the preset's settings, the style's
    max_new_tokens; progress off."""
    base = dataclasses.replace(lm.generation, max_new_tokens=STYLES[style_name].max_new_tokens, progress=False)
    return dataclasses.replace(base, **changes)


LLAMA_CPP_CHILD = """
import json, sys, time
try:
    import llama_cpp
except ImportError:
    sys.exit(3)
job = json.load(sys.stdin)
if job["workload"] == "day":
    sys.path.insert(0, job["scripts"])
    import bench
    print(json.dumps(bench.llama_cpp_day(llama_cpp, job)))
    sys.exit(0)
llm = llama_cpp.Llama(model_path=job["gguf"], n_ctx=job["n_ctx"], n_threads=job["threads"] or None, verbose=False)
started, tokens = time.perf_counter(), 0
for text in job["texts"]:
    out = llm(text, max_tokens=job["max_new_tokens"], temperature=0.0)
    tokens += out["usage"]["completion_tokens"]
print(json.dumps({"seconds": time.perf_counter() - started, "tokens": tokens}))
"""
NOT_IMPORTABLE = 3  # the llama.cpp child's exit status when llama_cpp is not installed


def run_llama_cpp(gguf: Path, lm, prompts: list[Prompt], max_new_tokens: int, threads: int, spec: str | None = None,
                  style_name: str = "", limit: int = 0) -> dict | str:
    """llama.cpp at batch 1 in a child process: a native build that crashes (a segfault on some CPUs) becomes this
    peer's row, and the rows measured before it stand. A string says why there is no row.

    Without `style_name`: the prompts' chat texts, each once, greedy, to EOS or max_new_tokens (no line limit, no
    section rounds, no redraws): fewer tokens than the engine's day, so compare tok/s. With it: the style's whole
    day as the engine's rows run it (compose.write on the day's first `limit` papers of the model `spec`), each
    engine call answered by llama.cpp one prompt at a time (llama_cpp_generate): papers/min of the same work."""
    if style_name:
        job = {"workload": "day", "gguf": str(gguf), "spec": spec, "style": style_name, "limit": limit,
               "threads": threads, "scripts": str(ROOT / "scripts")}
    else:
        job = {"workload": "texts", "gguf": str(gguf), "n_ctx": lm.context_length, "threads": threads,
               "max_new_tokens": max_new_tokens, "texts": [chat_text(lm.tokenizer, p) for p in prompts]}
    out = subprocess.run([sys.executable, "-c", LLAMA_CPP_CHILD], input=json.dumps(job), capture_output=True,
                         text=True)
    if out.returncode == NOT_IMPORTABLE:
        return "skipped: llama_cpp is not importable (pip install llama-cpp-python)"
    if out.returncode:
        how = f"signal {-out.returncode}" if out.returncode < 0 else f"exit status {out.returncode}"
        last = (out.stderr.strip().splitlines() or [""])[-1][:200]
        return f"failed: the llama.cpp child ended with {how}" + (f" ({last})" if last else "")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    seconds, tokens, papers = res["seconds"], res["tokens"], res.get("papers", len(prompts))
    return {"papers": papers, "seconds": round(seconds, 1), "papers_per_min": round(60 * papers / seconds, 2),
            "tokens": tokens, "tok_s": round(tokens / seconds, 1)}


def llama_cpp_callbacks(config: GenerationConfig, banned, newline, start: int) -> tuple[list, list]:
    """(logits processors, stopping criteria) for llama.cpp over numpy arrays of the ids so far (prompt and reply):
    the suppressed ids `banned`, repetition_penalty and no_repeat_ngram_size as transformers applies them, and the
    line limit counted over the reply (the ids from `start` on) in the tokens of `newline`."""
    import numpy as np

    processors, stops = [], []
    if len(banned):
        def suppress(input_ids, scores):
            scores[banned] = -np.inf
            return scores
        processors.append(suppress)
    if config.repetition_penalty != 1.0:
        def penalize(input_ids, scores):
            seen = np.unique(input_ids)
            rp = config.repetition_penalty
            scores[seen] = np.where(scores[seen] < 0, scores[seen] * rp, scores[seen] / rp)
            return scores
        processors.append(penalize)
    if config.no_repeat_ngram_size:
        def no_repeat(input_ids, scores):
            seq, n = input_ids.tolist(), config.no_repeat_ngram_size
            if len(seq) + 1 >= n:  # as transformers: the tokens that would close an n-gram already written
                tail = seq[len(seq) - n + 1:]
                scores[[seq[k + n - 1] for k in range(len(seq) - n + 1) if seq[k:k + n - 1] == tail]] = -np.inf
            return scores
        processors.append(no_repeat)
    if config.max_lines:
        stops.append(lambda input_ids, logits: bool(np.isin(input_ids[start:], newline).sum() >= config.max_lines))
    return processors, stops


def llama_cpp_generate(llama_cpp, llm, lm, prompts: list[Prompt], config: GenerationConfig,
                       on_result=None) -> list[engine.Generation]:
    """engine.generate's contract answered by llama.cpp one prompt at a time: each prompt's token ids as the engine
    fits them (the same vocabulary: the GGUF is the model's), max_new_tokens, greedy or sampled (temperature, top_k,
    top_p, seeded per row as the engine seeds; llama.cpp's own min_p and repeat penalty off), the stop strings, and
    as callbacks the line limit, the suppressed scripts, repetition_penalty and no_repeat_ngram_size as transformers
    applies them (over the prompt and the reply)."""
    import numpy as np

    newline = np.array(sorted(engine._newline_ids(lm.tokenizer)))
    out = []
    for i, p in enumerate(prompts):
        ids, truncated = engine._fit(lm, p, config)
        banned = engine._suppressed(lm.tokenizer, [p]) if config.suppress_other_scripts else []
        processors, stops = llama_cpp_callbacks(config, np.array(banned, dtype=int), newline, len(ids))
        started = time.perf_counter()
        res = llm.create_completion(
            prompt=ids, max_tokens=config.max_new_tokens, temperature=config.temperature if config.do_sample else 0.0,
            top_k=config.top_k, top_p=config.top_p, min_p=0.0, repeat_penalty=1.0,
            seed=row_seed(config.seed, ids) % 2**31, stop=list(config.stop_strings) or None,
            logits_processor=llama_cpp.LogitsProcessorList(processors) if processors else None,
            stopping_criteria=llama_cpp.StoppingCriteriaList(stops) if stops else None)
        choice = res["choices"][0]
        gen = engine.Generation(key=p.key, text=(p.prefill + choice["text"]).strip(), prompt_tokens=len(ids),
                                completion_tokens=res["usage"]["completion_tokens"],
                                seconds=time.perf_counter() - started, truncated=truncated,
                                finished=choice["finish_reason"] == "stop")
        out.append(gen)
        if on_result is not None:
            on_result(i, gen)
    return out


def llama_cpp_day(llama_cpp, job: dict) -> dict:
    """(In the llama.cpp child.) The style's day through compose.write with every engine call answered by
    llama_cpp_generate: seconds, papers, tokens."""
    lm = load_model(job["spec"], dtype="float32")  # its tokenizer and limits; its weights are not run
    prompts = day_prompts(job["style"], limit=job["limit"])
    config = style_config(lm, job["style"])
    llm = llama_cpp.Llama(model_path=job["gguf"], n_ctx=lm.context_length, n_threads=job["threads"] or None,
                          verbose=False)
    answer = engine.generate
    engine.generate = lambda lm, prompts, config, on_result=None: llama_cpp_generate(llama_cpp, llm, lm, prompts,
                                                                                    config, on_result)
    try:
        started = time.perf_counter()
        gens = compose.write(lm, STYLES[job["style"]], prompts, config)
        seconds = time.perf_counter() - started
    finally:
        engine.generate = answer
    return {"seconds": seconds, "papers": len(gens), "tokens": sum(g.completion_tokens for g in gens)}


def bench_day(args) -> dict:
    rows, report = [], {"workload": "day", "feed": str(DAY_FEED.relative_to(ROOT))}
    jobs = [(args.model, args.style)] + ([(MULTILINGUAL, args.zh_style)] if args.zh else [])
    for spec, style_name in jobs:
        lm = load_model(spec, dtype=args.dtype)
        prompts = day_prompts(style_name, limit=args.limit)
        words = [len(p.abstract.split()) for p in prompts]
        name = lm.provenance.get("preset") or lm.provenance["model"]
        config = style_config(lm, style_name)
        lengths = [len(lm.tokenizer(chat_text(lm.tokenizer, p), add_special_tokens=False)["input_ids"]) for p in prompts]
        report.setdefault("plans", {})[style_name] = plan_table(lengths, config)
        plans, skipped = batching_runs(lm, config, args.compare_padding, not args.no_continuous, args.compare_drop,
                                       not args.no_compare_prepack)
        if skipped:
            report.setdefault("continuous_skipped", {})[style_name] = skipped
        for cfg in {cfg.batching: cfg for _, cfg in plans}.values():  # warm-up (kernel init), once per batching
            generate(lm, prompts[:2], dataclasses.replace(cfg, max_new_tokens=4))
        if not args.no_naive and style_name == args.style:
            # The naive loop: the same engine one prompt at a time (batch_size 1, nothing padded, no stopped rows).
            plans.append(("one at a time (naive loop)", dataclasses.replace(plans[0][1], batch_size=1)))
        first = None
        for label, cfg in plans:
            res = run_style(lm, style_name, prompts, cfg)
            texts = res.pop("texts")
            first = first or texts
            same = None if texts is first else sum(a == b for a, b in zip(first, texts, strict=True))
            res.update(model=name, style=style_name, plan=label, batching=cfg.batching, max_padding=cfg.max_padding,
                       dtype=str(lm.model.dtype)[6:], batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens,
                       words=[min(words), max(words)], same_text_as_first=same)
            rows.append(res)
            print(f"[{name} {style_name} {label}] {res}", file=sys.stderr, flush=True)
            if label.startswith("one at a time"):
                report["engine_over_naive_papers_per_min"] = round(rows[0]["papers_per_min"] / res["papers_per_min"], 2)
        gguf = lm.provenance.get("gguf_file")
        if gguf and not args.no_llama_cpp and style_name == args.style:
            ref = run_llama_cpp(Path(gguf), lm, prompts, config.max_new_tokens, args.threads)
            report["llama_cpp"] = ref
            if isinstance(ref, dict):
                ref.update(model=name, style=style_name, plan="llama.cpp batch 1, texts", dtype="gguf")
                rows.append(ref)
                report["engine_over_llama_cpp_tok_s"] = round(rows[0]["tok_s"] / ref["tok_s"], 2)
                day = run_llama_cpp(Path(gguf), lm, prompts, config.max_new_tokens, args.threads, spec=args.model,
                                    style_name=style_name, limit=args.limit)
                report["llama_cpp_day"] = day
                if isinstance(day, dict):
                    day.update(model=name, style=style_name, plan="llama.cpp batch 1, day", dtype="gguf")
                    rows.append(day)
                    report["engine_over_llama_cpp_day_papers_per_min"] = round(
                        rows[0]["papers_per_min"] / day["papers_per_min"], 2)
    report["runs"] = rows
    print(f"\nA day of {len(day_prompts(args.style, limit=args.limit))} papers (invented abstracts), the styles' own "
          f"prompts and limits, greedy, {torch.get_num_threads()} threads")
    print(f"| {'model':<20} | {'style':<10} | {'plan':<24} | {'batches':>7} | {'papers/min':>10} | {'tok/s':>6} | "
          f"{'padding %':>9} | {'reused %':>8} | {'decode waste %':>14} | {'peak RSS MiB (growth)':>21} | {'same text':>9} |")
    print(f"|{'-' * 22}|{'-' * 12}|{'-' * 26}|{'-' * 9}|{'-' * 12}|{'-' * 8}|{'-' * 11}|{'-' * 10}|{'-' * 16}|{'-' * 23}|"
          f"{'-' * 11}|")
    for r in rows:
        memory = f"{r['peak_rss_mib']} (+{r['rss_growth_mib']})" if "peak_rss_mib" in r else "-"
        same = "-" if r.get("same_text_as_first") is None else f"{r['same_text_as_first']}/{r['papers']}"
        print(f"| {r['model']:<20} | {r['style']:<10} | {r['plan']:<24} | {r.get('batches', 1):>7} | "
              f"{r['papers_per_min']:>10} | {r['tok_s']:>6} | {r.get('prompt_padding_pct', '-'):>9} | "
              f"{r.get('prompt_reused_pct', '-'):>8} | {r.get('decode_waste_pct', '-'):>14} | {memory:>21} | {same:>9} |")
    for style_name, why in report.get("continuous_skipped", {}).items():
        print(f"{style_name}: continuous batching skipped ({why})")
    for style_name, table in report["plans"].items():
        print(f"{style_name} prompt padding of the day's plans (computed; batches, padding %): " + "; ".join(
            f"batch_size {r['batch_size']}: greedy fill {r['greedy'][0]}, {r['greedy'][1]}% / planner {r['planner'][0]}, "
            f"{r['planner'][1]}% / planner at max_padding 0.1 {r['planner_0.1'][0]}, {r['planner_0.1'][1]}%"
            for r in table))
    if "engine_over_naive_papers_per_min" in report:
        print(f"engine ({rows[0]['plan']}) / naive loop papers per minute: {report['engine_over_naive_papers_per_min']}×")
    if isinstance(report.get("llama_cpp"), str):
        print(f"llama.cpp: {report['llama_cpp']}")
    elif "engine_over_llama_cpp_tok_s" in report:
        print(f"engine / llama.cpp (batch 1, the chat texts once) tok/s: {report['engine_over_llama_cpp_tok_s']}×")
    if isinstance(report.get("llama_cpp_day"), str):
        print(f"llama.cpp, the day's work: {report['llama_cpp_day']}")
    elif "engine_over_llama_cpp_day_papers_per_min" in report:
        print(f"engine / llama.cpp (batch 1, the same day's work) papers per minute: "
              f"{report['engine_over_llama_cpp_day_papers_per_min']}×")
    return report


# --- cold load ---------------------------------------------------------------------------------------------------------

LOAD_CHILD = """
import json, resource, sys, time
t = time.perf_counter()
import torch
from summarizer.engine import load_model
imported = time.perf_counter() - t
if int(sys.argv[3]):
    torch.set_num_threads(int(sys.argv[3]))
spec = None if sys.argv[1] == "embedded" else sys.argv[1]
t = time.perf_counter()
lm = load_model(spec, dtype=sys.argv[2])
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) \
    if sys.platform == "linux" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
gpu = torch.cuda.max_memory_allocated() >> 20 if torch.cuda.is_available() else None
print(json.dumps({"import_s": round(imported, 1), "load_s": round(time.perf_counter() - t, 1),
                  "dtype": lm.provenance["dtype"], "cache_dtype": lm.provenance.get("gguf_cache_dtype"),
                  "peak_rss_kib": hwm, "peak_gpu_mib": gpu}))
"""
# The child's peak is VmHWM, its own address space's high-water mark: Linux carries ru_maxrss over fork and exec, so
# after the day workload (a 1.7 GiB parent) ru_maxrss gave every child's load that parent's peak.


def release_gpu() -> None:
    """Hand this process's cached GPU memory back before a child loads: torch's allocator keeps what the day workload
    freed reserved, and the child's placement (and its batch sizes) would see a GPU that much smaller."""
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def load_once(spec: str, dtype: str, cache: Path, threads: int) -> dict:
    """One load in a fresh process (so that nothing of this one counts): its own numbers, read back as JSON. Its peak
    memory is host RSS (VmHWM) and, on a GPU, torch.cuda.max_memory_allocated."""
    release_gpu()
    env = dict(os.environ, SUMMARIZER_CACHE=str(cache), HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", LOAD_CHILD, spec, dtype, str(threads)], env=env, capture_output=True,
                         text=True)
    if out.returncode:
        raise LoadFailed(f"loading {spec} in a child process failed (exit status {out.returncode}): "
                         + " ".join(out.stderr.strip().splitlines()[-1:])[:300])
    return json.loads(out.stdout.strip().splitlines()[-1])


class LoadFailed(Exception):
    """A load child that failed: reported as the load's row, after the rows already measured."""


def bench_load(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="summarizer-bench-") as tmp:
        cache = Path(tmp)
        models = cache_root() / "models"  # presets name their GGUF under {cache}/models: the same file, not a copy
        if models.is_dir():
            (cache / "models").symlink_to(models)
        cold = load_once(args.load_model, args.dtype, cache, args.threads)
        size = sum(f.stat().st_size for f in (cache / "gguf").rglob("*") if f.is_file() and f.name != "hashes.json")
        warm = load_once(args.load_model, args.dtype, cache, args.threads)
    report = {"workload": "load", "model": args.load_model, "cold": cold, "warm": warm, "cache_bytes": size}
    gib = 1 << 30
    print(f"\nLoading {args.load_model} ({cold['dtype']}; cache {cold['cache_dtype'] or '-'}), each in a fresh process")
    print(f"| {'load':<5} | {'seconds':>7} | {'peak RSS':>9} | {'peak GPU':>9} |")
    print(f"|{'-' * 7}|{'-' * 9}|{'-' * 11}|{'-' * 11}|")
    for name, r in (("cold", cold), ("warm", warm)):
        gpu = f"{r['peak_gpu_mib'] / 1024:>5.2f} GiB" if r.get("peak_gpu_mib") is not None else f"{'-':>9}"
        print(f"| {name:<5} | {r['load_s']:>7} | {r['peak_rss_kib'] * 1024 / gib:>5.2f} GiB | {gpu} |")
    print(f"cache on disk: {size / gib:.2f} GiB ({size:,} bytes); importing summarizer+torch {cold['import_s']} s")
    return report


# --- random weights --------------------------------------------------------------------------------------------------


def shape_model(config_path: Path, dtype, device: str = "meta"):
    """A causal LM of the shape a config.json describes, random weights (or none, on "meta")."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(**json.loads(Path(config_path).read_text(encoding="utf-8")))
    torch.manual_seed(0)
    with torch.device(device):
        return AutoModelForCausalLM.from_config(config, dtype=dtype)


def bytes_per_decode_step(model) -> int:
    """Weight bytes one decode step reads: every parameter once, except an untied input embedding, of which it only
    gathers the batch's rows. (The KV cache read comes on top; reported apart.)"""
    total = sum(p.numel() * p.element_size() for p in model.parameters())  # a tied matrix is listed once
    embedding = model.get_input_embeddings().weight
    if embedding is not model.get_output_embeddings().weight:
        total -= embedding.numel() * embedding.element_size()
    return total


def kv_bytes_per_token(model) -> int:
    return loading.kv_bytes_per_token(model.config, model.dtype)


def measure_cpu_bandwidth(gib: float = 1.0) -> float:
    """GB/s of a large tensor copy (bytes read + written / seconds), best of three."""
    src = torch.ones(int(gib * (1 << 30)) // 4)
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t)
    return 2 * src.numel() * 4 / best / 1e9


def device_bandwidth(device: str, flag: float | None) -> tuple[float, str]:
    if flag:
        return flag, "--bandwidth-gbs"
    if device == "cuda":
        name = torch.cuda.get_device_name()
        for key, gbs in GPU_BANDWIDTH_GBS:
            if key in name:
                return float(gbs), f"datasheet ({name})"
        raise SystemExit(f"No bandwidth known for {name}: pass --bandwidth-gbs.")
    return round(measure_cpu_bandwidth(), 1), "measured (1 GiB tensor copy)"


def bench_random(args, tokenizer=None) -> dict:
    """Decode tokens/s of a model shape with random weights, per batch size, next to the bandwidth ceiling. Each
    batch size runs twice, to 1 and to --decode-steps new tokens, so that the prompt's prefill cancels out.
    `tokenizer`: any whose ids fit the shape's vocabulary; default the embedded model's."""
    from summarizer.loading import LoadedModel

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = resolve_dtype(args.dtype)
    bandwidth, source = device_bandwidth(device, args.bandwidth_gbs)
    model = shape_model(args.random_weights, dtype, device).eval()
    tokenizer = tokenizer or load_model(None, dtype="float32").tokenizer  # the embedded model's (SmolLM2's)
    lm = LoadedModel(model=model, tokenizer=tokenizer, kind="causal", provenance={"model": str(args.random_weights)},
                     context_length=model.config.max_position_embeddings)
    weights = bytes_per_decode_step(model)
    kv_token = kv_bytes_per_token(model)
    day = day_prompts(args.style)
    rows = []
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        prompts = [dataclasses.replace(day[i % len(day)], key=f"r{i}") for i in range(batch)]
        # No prompt store: both runs must prefill the same prompts for the difference to be the decode steps alone.
        cfg = GenerationConfig(batch_size=batch, token_budget=1 << 30, max_padding=1.0, progress=False,
                               batching="static", prefix_cache=False)
        generate(lm, prompts[:1], dataclasses.replace(cfg, max_new_tokens=2))  # warm-up
        timings = {}
        for steps in (1, args.decode_steps):
            with engine.recording() as records:
                started = time.perf_counter()
                generate(lm, prompts, dataclasses.replace(cfg, max_new_tokens=steps))
                timings[steps] = (time.perf_counter() - started, sum(r.steps for r in records), records)
        (t1, s1, _), (tn, sn, records) = timings[1], timings[args.decode_steps]
        step_s = (tn - t1) / max(1, sn - s1)
        context = sum(sum(r.prompt_tokens) for r in records) / batch + args.decode_steps / 2
        floor_s = weights / (bandwidth * 1e9)
        rows.append({"batch": batch, "prompt_tokens": round(context - args.decode_steps / 2), "step_ms": round(1000 * step_s, 1),
                     "tok_s": round(batch / step_s, 1), "ceiling_tok_s": round(batch / floor_s, 1),
                     "of_ceiling_pct": round(100 * floor_s / step_s, 1),
                     "kv_mb_per_step": round(kv_token * context * batch / 1e6, 1)})
        print(f"[batch {batch}] {rows[-1]}", file=sys.stderr, flush=True)
    params = sum(p.numel() for p in model.parameters())
    report = {"workload": "random", "config": str(args.random_weights), "device": device,
              "device_name": torch.cuda.get_device_name() if device == "cuda" else "cpu",
              "dtype": str(dtype)[6:], "params": params, "weight_bytes_per_step": weights, "bandwidth_gbs": bandwidth,
              "bandwidth_source": source, "decode_steps": args.decode_steps, "rows": rows}
    print(f"\n{Path(args.random_weights).name}: {params / 1e9:.2f}B params, random weights, {report['dtype']} on "
          f"{report['device_name']}; a decode step reads {weights / 1e9:.2f} GB of weights; bandwidth {bandwidth} GB/s "
          f"({source}) → at least {1000 * weights / (bandwidth * 1e9):.1f} ms a step")
    print(f"| {'batch':>5} | {'prompt tok':>10} | {'ms/step':>8} | {'tok/s':>8} | {'ceiling tok/s':>13} | "
          f"{'% of ceiling':>12} | {'KV MB/step':>10} |")
    print(f"|{'-' * 7}|{'-' * 12}|{'-' * 10}|{'-' * 10}|{'-' * 15}|{'-' * 14}|{'-' * 12}|")
    for r in rows:
        print(f"| {r['batch']:>5} | {r['prompt_tokens']:>10} | {r['step_ms']:>8} | {r['tok_s']:>8} | "
              f"{r['ceiling_tok_s']:>13} | {r['of_ceiling_pct']:>12} | {r['kv_mb_per_step']:>10} |")
    return report


# --- the earlier synthetic bench ---------------------------------------------------------------------------------

# 16 synthetic paper topics: (area, task, method, idea, data, metric, gain). Abstracts are built from them with
# a varying number of sentences, so the prompts range from ~120 to ~330 words like real Daily Papers abstracts.
TOPICS = [
    ("language models", "long-context question answering", "RingMem", "a rolling memory of compressed key blocks", "LongBench", "accuracy", "6.1 points"),
    ("vision", "open-vocabulary segmentation", "MaskLens", "text-conditioned mask queries", "ADE20K", "mIoU", "3.4 points"),
    ("speech", "streaming speech recognition", "EchoStep", "chunked attention with look-ahead tokens", "LibriSpeech", "word error rate", "11% relative"),
    ("robotics", "household manipulation", "GraspFlow", "a flow-matching action head", "a 40-task kitchen suite", "success rate", "14 points"),
    ("reinforcement learning", "reasoning with verifiable rewards", "StepRL", "per-step credit from a learned verifier", "GSM8K and MATH", "pass@1", "5.2 points"),
    ("diffusion models", "text-to-image generation", "FastSketch", "a two-stage distillation schedule", "COCO captions", "FID", "18% lower"),
    ("retrieval", "multilingual passage retrieval", "PolyDense", "shared token-level late interaction", "MIRACL", "nDCG@10", "4.8 points"),
    ("efficiency", "LLM inference on CPUs", "PackKV", "4-bit key-value cache packing", "a suite of chat prompts", "throughput", "2.3 times"),
    ("agents", "web navigation", "TabPilot", "a planner that rewrites its own subgoals", "WebArena", "task success", "9 points"),
    ("graphs", "molecule property prediction", "RingGNN", "ring-aware message passing", "OGB-molhiv", "ROC-AUC", "2.0 points"),
    ("video", "long video understanding", "ClipChain", "a chain of keyframe summaries", "EgoSchema", "accuracy", "7.5 points"),
    ("evaluation", "judging open-ended answers", "FairJudge", "pairwise debiasing of model judges", "MT-Bench", "agreement with humans", "12 points"),
    ("3D vision", "novel view synthesis", "SplatLite", "pruned Gaussian splats with learned opacity", "Mip-NeRF 360", "PSNR", "0.9 dB"),
    ("code models", "repository-level code completion", "RepoLink", "cross-file retrieval of call sites", "RepoBench", "exact match", "6.7 points"),
    ("alignment", "refusing unsafe requests", "CalmGuard", "contrastive preference pairs", "a red-teaming benchmark", "harmful completion rate", "41% lower"),
    ("time series", "probabilistic forecasting", "TideNet", "patch tokens with a mixture output head", "the Monash archive", "CRPS", "8% lower"),
]

SENTENCES = [
    "Recent progress in {area} has made {task} practical, yet current systems remain costly and brittle.",
    "Existing approaches either scale poorly with input size or require large amounts of labeled data.",
    "We introduce {method}, a simple method for {task} built around {idea}.",
    "The key observation is that most of the signal needed for {task} is concentrated in a small subset of the input.",
    "{method} exploits this by combining {idea} with a lightweight scoring module trained end to end.",
    "Unlike prior work, it needs no task-specific architecture changes and adds fewer than two percent extra parameters.",
    "We further propose a curriculum that starts from short, easy examples and gradually increases difficulty.",
    "Training uses only publicly available data and fits on a single node of eight GPUs in under two days.",
    "On {data}, {method} improves {metric} by {gain} over the strongest published baseline.",
    "Ablations show that {idea} accounts for most of the improvement, while the curriculum stabilizes training.",
    "We also observe that the gains grow with input length, suggesting that the method scales gracefully.",
    "A human study with twelve annotators confirms that the outputs are preferred in most pairwise comparisons.",
    "We analyze failure cases and find that remaining errors come mainly from rare entities and ambiguous inputs.",
    "The method is compatible with quantization and runs at interactive speed on commodity hardware.",
    "Finally, we discuss limitations, including sensitivity to domain shift and the cost of the scoring module.",
    "Code, model weights and evaluation scripts are released to support reproducible research on {task}.",
]


def make_abstract(topic: tuple, n_sentences: int, rng: random.Random) -> str:
    area, task, method, idea, data, metric, gain = topic
    core = [0, 2, 8]  # problem, method, result: every abstract has them, in order
    extra = sorted(rng.sample([i for i in range(len(SENTENCES)) if i not in core], n_sentences - len(core)))
    picked = sorted(core + extra)
    fill = dict(area=area, task=task, method=method, idea=idea, data=data, metric=metric, gain=gain)
    return " ".join(SENTENCES[i].format(**fill) for i in picked)


def make_prompts(n: int) -> list[Prompt]:
    rng = random.Random(0)
    prompts = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        abstract = make_abstract(topic, rng.randint(7, len(SENTENCES)), rng)
        prompts.append(Prompt(
            key=f"bench.{i:02d}", system="You are a helpful assistant that summarizes research papers.",
            user="Summarize this abstract in three short bullet points:\n\n{abstract}", abstract=abstract,
        ))
    return prompts


def planned_waste(lengths: list[int], completions: list[int], config: GenerationConfig) -> tuple[float, float]:
    """(prompt padding %, decode waste %): padded slots that carry no real token, under the engine's plan."""
    pad_slots = real = dec_slots = dec_real = 0
    for batch in plan_batches(lengths, config):
        pad_slots += len(batch) * max(lengths[i] for i in batch)
        real += sum(lengths[i] for i in batch)
        dec_slots += len(batch) * max(completions[i] for i in batch)  # finished rows keep decoding until all stop
        dec_real += sum(completions[i] for i in batch)
    return 100 * (1 - real / pad_slots), 100 * (1 - dec_real / dec_slots)


def run(lm, prompts: list[Prompt], config: GenerationConfig, naive: bool) -> dict:
    """Naive = one engine call per prompt with batch_size=1: exactly a per-prompt model.generate loop (no padding),
    with the same token counting, so only batching differs."""
    started = time.perf_counter()
    if naive:
        one = GenerationConfig(max_new_tokens=config.max_new_tokens, batch_size=1, progress=False, batching="static")
        gens = [generate(lm, [p], one)[0] for p in prompts]
    else:
        gens = generate(lm, prompts, config)
    seconds = time.perf_counter() - started
    tokens = sum(g.completion_tokens for g in gens)
    return {"tokens": tokens, "seconds": seconds, "tok_s": tokens / seconds, "gens": gens}


def bench_synthetic(args) -> dict:
    prompts = make_prompts(args.n)
    config = GenerationConfig(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                              token_budget=args.token_budget, progress=False, batching="static")
    rows, report = [], {"workload": "synthetic", "n": args.n, "max_new_tokens": args.max_new_tokens,
                        "batch_size": args.batch_size, "token_budget": args.token_budget,
                        "auto_cpu_dtype": str(resolve_dtype("auto"))[6:]}
    with tempfile.TemporaryDirectory(prefix="summarizer-bench-") as cache:
        os.environ["SUMMARIZER_CACHE"] = cache  # an empty cache: the first load is really cold
        t = time.perf_counter()
        lm = load_model(None, dtype="float32")
        report["cold_load_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        lm = load_model(None, dtype="float32")
        report["warm_load_s"] = round(time.perf_counter() - t, 1)
        report["model"] = lm.provenance["model"]
        report["sha256"] = lm.provenance["sha256"]
        words = [len(p.abstract.split()) for p in prompts]
        report["abstract_words"] = [min(words), round(sum(words) / len(words)), max(words)]
        for dtype in args.dtypes.split(","):
            lm = load_model(None, dtype=dtype)
            generate(lm, prompts[:2], GenerationConfig(max_new_tokens=4, progress=False))  # warm-up (kernel init)
            engine_run = run(lm, prompts, config, naive=False)
            lengths = [g.prompt_tokens for g in engine_run["gens"]]
            completions = [g.completion_tokens for g in engine_run["gens"]]
            pad_pct, dec_pct = planned_waste(lengths, completions, config)
            res = {"engine_tok_s": round(engine_run["tok_s"], 1), "engine_s": round(engine_run["seconds"], 1),
                   "prompt_padding_pct": round(pad_pct, 1), "decode_waste_pct": round(dec_pct, 1),
                   "prompt_tokens": [min(lengths), max(lengths)]}
            rows.append((dtype, f"engine (bs≤{args.batch_size}, length-sorted)", engine_run))
            if not args.no_naive:
                naive = run(lm, prompts, config, naive=True)
                rows.append((dtype, "naive loop (bs=1)", naive))
                res.update(naive_tok_s=round(naive["tok_s"], 1), naive_s=round(naive["seconds"], 1),
                           speedup=round(engine_run["tok_s"] / naive["tok_s"], 2))
            report[dtype] = res
            print(f"[{dtype}] done: {res}", file=sys.stderr, flush=True)

    print(f"\nSmolLM2-135M-Instruct (embedded), {args.n} prompts of {report['abstract_words'][0]}-"
          f"{report['abstract_words'][2]} words, {args.max_new_tokens} new tokens, greedy, "
          f"{torch.get_num_threads()} threads")
    print(f"load: cold (GGUF dequantize + cache write) {report['cold_load_s']} s, warm (safetensors cache) "
          f"{report['warm_load_s']} s")
    print(f"| {'dtype':<9} | {'mode':<32} | {'tokens':>6} | {'seconds':>7} | {'tok/s':>6} |")
    print(f"|{'-' * 11}|{'-' * 34}|{'-' * 8}|{'-' * 9}|{'-' * 8}|")
    for dtype, mode, r in rows:
        print(f"| {dtype:<9} | {mode:<32} | {r['tokens']:>6} | {r['seconds']:>7.1f} | {r['tok_s']:>6.1f} |")
    for dtype in args.dtypes.split(","):
        r = report[dtype]
        ratio = f"engine/naive {r['speedup']}×, " if "speedup" in r else ""
        print(f"{dtype}: {ratio}prompt padding waste {r['prompt_padding_pct']}%, "
              f"decode waste {r['decode_waste_pct']}%")
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", choices=("day", "synthetic"), default="day")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default, one per core)")
    ap.add_argument("--dtype", default="auto", help="load dtype (day, load and random workloads)")
    day = ap.add_argument_group("day workload")
    day.add_argument("--model", default=None, help="model for --style (default: the embedded model)")
    day.add_argument("--style", default="en-bullets")
    day.add_argument("--limit", type=int, default=0, help="only the first N papers of the day (0 = all 14)")
    day.add_argument("--zh", action="store_true", help=f"also --zh-style on {MULTILINGUAL} (slow on a CPU)")
    day.add_argument("--zh-style", default="zh-digest")
    day.add_argument("--compare-padding", type=float, default=0.1,
                     help="also run at this max_padding (0 = no second run)")
    day.add_argument("--compare-drop", type=float, default=0.0,
                     help="also run static at this drop_finished (default 0: stopped rows kept; -1 = no such run)")
    day.add_argument("--no-compare-prepack", action="store_true",
                     help="skip the default plan with its linear weights as loaded (prepack_weights off)")
    day.add_argument("--no-continuous", action="store_true", help="skip the continuous batching run")
    day.add_argument("--no-llama-cpp", action="store_true", help="skip llama.cpp even when it is importable")
    day.add_argument("--no-naive", action="store_true", help="skip the one-prompt-at-a-time loop (also: synthetic)")
    day.add_argument("--no-load", action="store_true", help="skip the cold and warm load of the day's model")
    load = ap.add_argument_group("load")
    load.add_argument("--load-model", metavar="SPEC", help='measure a cold and a warm load of SPEC ("embedded" = default)')
    rnd = ap.add_argument_group("random weights")
    rnd.add_argument("--random-weights", metavar="CONFIG", type=Path, help="a config.json of the model shape to time")
    rnd.add_argument("--batch-sizes", default="1,4", help="comma-separated (a GPU: e.g. 1,16,64)")
    rnd.add_argument("--decode-steps", type=int, default=8)
    rnd.add_argument("--bandwidth-gbs", type=float, help="memory bandwidth; default: datasheet by GPU name, or measured")
    syn = ap.add_argument_group("synthetic workload")
    syn.add_argument("--n", type=int, default=16, help="number of prompts")
    syn.add_argument("--max-new-tokens", type=int, default=64)
    syn.add_argument("--batch-size", type=int, default=16)
    syn.add_argument("--token-budget", type=int, default=16384)
    syn.add_argument("--dtypes", default="float32,bfloat16", help="comma-separated dtypes to compare")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_avg = os.getloadavg()[0]
    if load_avg > 0.5:  # OpenMP threads spin; other busy processes slow batch-1 decoding down by up to 10× here
        print(f"warning: load average {load_avg:.1f} before the bench; numbers will be low", file=sys.stderr)
    if args.load_model:
        try:
            report = bench_load(args)
        except LoadFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    elif args.random_weights:
        report = bench_random(args)
    elif args.workload == "synthetic":
        report = bench_synthetic(args)
    else:
        report = bench_day(args)
        if not args.no_load:  # the day's model loaded cold (its GGUF converted into an empty cache) and warm
            args.load_model = args.model or "embedded"
            try:
                report["load"] = bench_load(args)
            except LoadFailed as exc:  # the day's rows above stand
                report["load"] = f"failed: {exc}"
                print(f"\nLoading: {report['load']}")
    report.update(threads=torch.get_num_threads(), loadavg=round(load_avg, 1), import_s=round(IMPORT_SECONDS, 1),
                  peak_rss_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
