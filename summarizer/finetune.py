"""Supervised fine-tuning on a dataset built by `summarizer dataset`: TRL's SFTTrainer on prompt→completion pairs
(completion-only loss, the completion's EOS kept), LoRA by default. The prompt is rebuilt with the base model's own
chat template through engine.chat_text, so the train prompt is exactly the inference prompt.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from summarizer import SummarizerError, archive
from summarizer.config import check_keys, read_settings
from summarizer.styles import STYLES

log = logging.getLogger(__name__)


TRAIN_DTYPES = ("auto", "float32", "bfloat16")


def train_dtype(name: str) -> str:
    """The dtype a recipe trains in. "auto": bfloat16 on a GPU that computes in it natively (compute capability 8.0+)
    or a CPU with AVX512-BF16/AMX, else float32 — emulated bf16 is slower than float32, and float16 is never chosen."""
    if name != "auto":
        return name
    import torch

    from summarizer.loading import cpu_has_bf16

    if torch.cuda.is_available():
        return "bfloat16" if torch.cuda.is_bf16_supported(including_emulation=False) else "float32"
    return "bfloat16" if cpu_has_bf16() else "float32"


@dataclass(frozen=True)
class Recipe:
    name: str  # output folder: <output_root>/<name>/
    base_model: str | None = None  # any --model value; None = the embedded SmolLM2-135M-Instruct
    style: str | None = "en-bullets"  # train on this style's rows only; None = every row of the dataset
    method: str = "lora"  # "lora" (PEFT adapter, merged into the base on save) | "full" (every weight trains)
    lora_r: int = 16  # adapter rank
    lora_alpha: int = 32  # adapter scale numerator (scale = alpha / r)
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")  # module names that get adapters
    learning_rate: float = 2e-4
    epochs: float = 1.0  # passes over the train split (ignored when max_steps > 0)
    max_steps: int = -1  # > 0: stop after this many optimizer steps
    batch_size: int = 4  # per device
    grad_accum: int = 1  # gradient accumulation steps
    max_length: int = 768  # tokens of prompt + completion; longer abstracts are shortened (never the target)
    # > 0: train on this many train rows only, spread over the split by a hash of the id (the first N would be one
    # day's). A 2-core CPU trains a 0.5B model on ~100-150 pairs of ~1k tokens in hours; 0 = every row.
    max_train_examples: int = 0
    max_validation_examples: int = 0  # > 0: the validation loss on this many validation rows only (chosen alike)
    warmup_steps: float = 0.0  # optimizer steps of linear warm-up, or a share of all steps when below 1
    weight_decay: float = 0.0
    # Weights while training: float32, bfloat16, or "auto" (bf16 where the hardware computes in it natively, else
    # float32; see train_dtype).
    dtype: str = "float32"
    gradient_checkpointing: bool = False  # recompute activations: less memory, ~30% slower (TRL's default is on)
    seed: int = 0  # the adapter's initialization, the order of the pairs and dropout (TRL seeds them all)
    # > 1: train this many times (seeds seed, seed+1, ...) and keep the mean of their weights (a uniform model
    # soup): what one short run owes to its data order and dropout averages out. Costs runs × the training time.
    runs: int = 1
    logging_steps: int = 5  # print the training loss every this many optimizer steps
    output_root: str = "models"  # where <name>/ goes

    def __post_init__(self):
        if self.method not in ("lora", "full"):
            raise SummarizerError(f"Recipe {self.name}: method {self.method!r} is not 'lora' or 'full'.")
        if self.max_length < 32:
            raise SummarizerError(f"Recipe {self.name}: max_length {self.max_length} is too small.")
        if self.dtype not in TRAIN_DTYPES:
            raise SummarizerError(f"Recipe {self.name}: dtype {self.dtype!r} is not one of {', '.join(TRAIN_DTYPES)} "
                                  "(float16 weights would need loss scaling and float32 master weights).")
        if self.runs < 1:
            raise SummarizerError(f"Recipe {self.name}: runs {self.runs} is not 1 or more.")
        if self.max_train_examples < 0 or self.max_validation_examples < 0:
            raise SummarizerError(f"Recipe {self.name}: max_train_examples and max_validation_examples are counts "
                                  "(0 = every row), not negative.")


def load_recipe(path: str | Path, **overrides) -> Recipe:
    """A commented YAML recipe → Recipe; CLI overrides (None = not given) win; unknown keys are an error."""
    path = Path(path)
    data = read_settings(path, "The recipe")
    data.update({k: v for k, v in overrides.items() if v is not None})
    check_keys(data, {f.name for f in dataclasses.fields(Recipe)}, f"The recipe {path}")
    data.setdefault("name", path.stem)
    if isinstance(data.get("lora_targets"), (list, str)):
        t = data["lora_targets"]
        data["lora_targets"] = (t,) if isinstance(t, str) else tuple(t)
    return Recipe(**data)


@dataclass(frozen=True)
class FinetuneResult:
    path: Path  # the loadable model dir (merged weights for LoRA)
    adapter: Path | None  # the LoRA adapter alone
    train_examples: int
    validation_examples: int
    shortened: int  # examples whose abstract was shortened to fit max_length
    train_loss: float | None
    eval_loss_before: float | None  # validation loss of the base model
    eval_loss_after: float | None
    steps: int
    seconds: float
    # When the model is the mean of several runs: each run's validation loss after training, in seed order.
    run_losses: tuple[float | None, ...] = ()


def fit_prompt(tokenizer, row: dict, max_length: int) -> tuple[str, bool]:
    """The chat text for a row, its abstract shortened (like the engine does) so prompt + completion + EOS fit."""
    from summarizer.config import GenerationConfig
    from summarizer.engine import chat_text, shorten_abstract
    from summarizer.prompt import prompt_for_row

    prompt = prompt_for_row(row)
    budget = max_length - len(tokenizer(row["completion"], add_special_tokens=False)["input_ids"]) - 1
    cut: list[str] = []

    def encode(abstract: str | None) -> list[int]:
        cut[:] = [] if abstract is None else [abstract]
        return tokenizer(chat_text(tokenizer, prompt, abstract), add_special_tokens=False)["input_ids"]

    _, kept, _ = shorten_abstract(tokenizer, encode, row["abstract"], budget, f"Paper {row['id']}",
                                  f"max_length {max_length} leaves for the prompt: it leaves no room for its abstract",
                                  cap=GenerationConfig().max_abstract_tokens)  # the engine's cap at inference
    return chat_text(tokenizer, prompt, cut[0] if kept is not None else None), kept is not None


def spread(rows: list[dict], n: int) -> list[dict]:
    """At most n rows (0 = all), chosen by a hash of the id: spread over every day of the split, and the same rows
    on every run; kept in their order."""
    if n <= 0 or len(rows) <= n:
        return rows
    chosen = set(sorted(range(len(rows)), key=lambda i: hashlib.sha256(rows[i]["id"].encode()).hexdigest())[:n])
    return [r for i, r in enumerate(rows) if i in chosen]


def training_rows(dd, tokenizer, recipe: Recipe):
    """(train, validation) `datasets.Dataset`s with only prompt/completion, and how many prompts were shortened."""
    from datasets import Dataset

    out, shortened = [], 0
    limits = {"train": recipe.max_train_examples, "validation": recipe.max_validation_examples}
    for split in ("train", "validation"):
        rows = [r for r in dd[split] if recipe.style is None or r["style"] == recipe.style] if split in dd else []
        rows = spread(rows, limits[split])
        pairs = []
        for r in rows:
            text, cut = fit_prompt(tokenizer, r, recipe.max_length)
            shortened += cut
            # The prompt ends with the style's prefill (as at inference), so the target starts after it.
            prefill = STYLES[r["style"]].prefill
            completion = r["completion"][len(prefill):] if r["completion"].startswith(prefill) else r["completion"]
            pairs.append({"prompt": text, "completion": completion})
        out.append(Dataset.from_list(pairs) if pairs else None)
    if out[0] is None:
        raise SummarizerError(f"The dataset has no train rows of style {recipe.style!r}.")
    return out[0], out[1], shortened


def make_trainer(model, tokenizer, train, validation, recipe: Recipe, work_dir: Path):
    """The SFTTrainer for a recipe (prompt-completion data → completion-only loss; EOS appended to completions)."""
    import torch
    from trl import SFTConfig, SFTTrainer

    if tokenizer(tokenizer.eos_token or "", add_special_tokens=True)["input_ids"][:1] != \
            tokenizer(tokenizer.eos_token or "", add_special_tokens=False)["input_ids"][:1]:
        log.warning("The tokenizer adds special tokens of its own; TRL's prompt tokens may differ from the engine's.")
    args = SFTConfig(
        output_dir=str(work_dir), per_device_train_batch_size=recipe.batch_size,
        per_device_eval_batch_size=recipe.batch_size, gradient_accumulation_steps=recipe.grad_accum,
        learning_rate=recipe.learning_rate, num_train_epochs=recipe.epochs, max_steps=recipe.max_steps,
        warmup_steps=recipe.warmup_steps, weight_decay=recipe.weight_decay, max_length=recipe.max_length,
        completion_only_loss=True, logging_steps=recipe.logging_steps, save_strategy="no", eval_strategy="no",
        report_to=[], seed=recipe.seed, use_cpu=not torch.cuda.is_available(), bf16=recipe.dtype == "bfloat16",
        eos_token=tokenizer.eos_token, dataset_num_proc=None, disable_tqdm=True,
        # transformers 5 names it activation_checkpointing (gradient_checkpointing is its deprecated alias, and
        # TRL's SFTConfig turns that one on by default).
        activation_checkpointing=recipe.gradient_checkpointing,
    )
    peft_config = None
    if recipe.method == "lora":
        from peft import LoraConfig

        peft_config = LoraConfig(r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
                                 target_modules=list(recipe.lora_targets), task_type="CAUSAL_LM")
    return SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=validation,
                      processing_class=tokenizer, peft_config=peft_config)


def finetune(recipe: Recipe, dataset_dir: str | Path, out_dir: str | Path | None = None, *, lm=None,
             eval_before: bool = True) -> FinetuneResult:
    """Train per the recipe on `dataset_dir`; save a model `summarizer digest --model DIR` loads, with a card."""
    from summarizer import dataset as ds
    from summarizer.engine import load_model

    started = time.perf_counter()
    recipe = dataclasses.replace(recipe, dtype=train_dtype(recipe.dtype))  # the card says what it trained in
    out = Path(out_dir) if out_dir else Path(recipe.output_root) / recipe.name
    if recipe.runs > 1:
        return finetune_runs(recipe, dataset_dir, out, eval_before=eval_before)
    dd = ds.load(dataset_dir)
    lm = lm or load_model(recipe.base_model, dtype=recipe.dtype)
    tokenizer = lm.tokenizer
    train, validation, shortened = training_rows(dd, tokenizer, recipe)
    trainer = make_trainer(lm.model, tokenizer, train, validation, recipe, out / "checkpoints")
    before = trainer.evaluate()["eval_loss"] if validation is not None and eval_before else None
    output = trainer.train()
    after = trainer.evaluate()["eval_loss"] if validation is not None else None
    adapter = None
    if trainer.is_world_process_zero():
        out.mkdir(parents=True, exist_ok=True)
        model = trainer.model
        if recipe.method == "lora":
            adapter = out / "adapter"
            model.save_pretrained(str(adapter))
            model = model.merge_and_unload()
        model.save_pretrained(str(out), safe_serialization=True)
        tokenizer.save_pretrained(str(out))
    trainer.accelerator.wait_for_everyone()  # under `accelerate launch`, nobody reads out/ before it is written
    if trainer.is_world_process_zero():
        _drop_empty(out / "checkpoints")
    result = FinetuneResult(
        path=out, adapter=adapter, train_examples=len(train), validation_examples=len(validation or []),
        shortened=shortened, train_loss=output.training_loss, eval_loss_before=before, eval_loss_after=after,
        steps=output.global_step, seconds=time.perf_counter() - started,
    )
    if trainer.is_world_process_zero():
        report = data_report(dataset_dir)
        write_card(out, recipe, result, lm.provenance, str(dataset_dir), report)
    return result


def finetune_runs(recipe: Recipe, dataset_dir: str | Path, out: Path, *, eval_before: bool = True) -> FinetuneResult:
    """recipe.runs runs, each in out/runs/seed-<seed>/, then their mean in out/. TRL seeds every random draw of a
    run, the adapter's initialization included, so each run is the one `--seed` gives by itself."""
    from accelerate import PartialState

    started = time.perf_counter()
    results = []
    for i in range(recipe.runs):
        run = dataclasses.replace(recipe, seed=recipe.seed + i, runs=1)
        results.append(finetune(run, dataset_dir, out / "runs" / f"seed-{run.seed}", eval_before=eval_before and i == 0))
        gc.collect()  # the run's model and trainer, before the next loads its own
    state = PartialState()
    if state.is_main_process:
        average([r.path for r in results], out)
    state.wait_for_everyone()
    first = results[0]
    result = dataclasses.replace(
        first, path=out, adapter=None, eval_loss_after=validation_loss(out, dataset_dir, recipe),
        train_loss=None if any(r.train_loss is None for r in results) else sum(r.train_loss for r in results) / len(results),
        steps=sum(r.steps for r in results), seconds=time.perf_counter() - started,
        run_losses=tuple(r.eval_loss_after for r in results))
    if state.is_main_process:
        base = json.loads((first.path / "finetune.json").read_text())["base_model"]
        report = data_report(dataset_dir)
        write_card(out, recipe, result, base, str(dataset_dir), report)
    return result


def validation_loss(model_dir: Path, dataset_dir: str | Path, recipe: Recipe) -> float | None:
    """The recipe's validation loss of a saved model (None without validation rows)."""
    from summarizer import dataset as ds
    from summarizer.engine import load_model

    lm = load_model(str(model_dir), dtype=recipe.dtype)
    _, validation, _ = training_rows(ds.load(dataset_dir), lm.tokenizer, recipe)
    if validation is None:
        return None
    trainer = make_trainer(lm.model, lm.tokenizer, validation, validation, dataclasses.replace(recipe, method="full"),
                           model_dir / "checkpoints")
    loss = trainer.evaluate()["eval_loss"]
    _drop_empty(model_dir / "checkpoints")
    return loss


def _drop_empty(folder: Path) -> None:
    """The trainer's output folder, which save_strategy="no" leaves empty."""
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def data_report(dataset_dir: str | Path) -> dict:
    """The dataset's report.json (who wrote its rows, its splits), {} for a dataset without one."""
    path = Path(dataset_dir) / "report.json"
    return json.loads(path.read_text()) if path.exists() else {}


def average(model_dirs: list[Path], out: Path) -> Path:
    """out/: the mean of the weights of fine-tunes of one base (same tensors, same shapes), summed in float32 and
    kept in the first's dtype, with the first's config and tokenizer. The runs' adapters stay in their own folders."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    dirs = [Path(d) for d in model_dirs]
    bases = {json.dumps(_base_of(d), sort_keys=True) for d in dirs}
    if len(bases) > 1:
        raise SummarizerError(f"The models {', '.join(map(str, dirs))} are not fine-tunes of one base model "
                              "(their finetune.json name different bases); only those can be averaged.")
    layouts = [sorted(p.name for p in d.glob("*.safetensors")) for d in dirs]
    if not layouts[0]:
        raise SummarizerError(f"The model folder {dirs[0]} has no *.safetensors weights to average.")
    out.mkdir(parents=True, exist_ok=True)
    for name in layouts[0]:
        handles = []
        for d, layout in zip(dirs, layouts, strict=True):
            if layout != layouts[0]:
                raise SummarizerError(f"The model folder {d} keeps its weights in {layout}, not in {layouts[0]} "
                                      f"like {dirs[0]}: they are not the same model.")
            handles.append(safe_open(str(d / name), framework="pt"))
        for d, h in zip(dirs, handles, strict=True):
            if extra := sorted(set(h.keys()) - set(handles[0].keys())):
                raise SummarizerError(f"The model {d} has a tensor {extra[0]} (in {name}) that {dirs[0]} lacks: "
                                      "they are not the same model.")
        tensors = {}
        for key in handles[0].keys():
            parts = []
            for d, h in zip(dirs, handles, strict=True):
                if key not in h.keys():
                    raise SummarizerError(f"The model {d} has no tensor {key} (in {name}): it is not the same model "
                                          f"as {dirs[0]}.")
                parts.append(h.get_tensor(key))
            if len({tuple(t.shape) for t in parts}) > 1:
                raise SummarizerError(f"The tensor {key} has different shapes in {', '.join(map(str, dirs))}.")
            tensors[key] = (sum(t.float() for t in parts) / len(parts)).to(parts[0].dtype)
        save_file(tensors, str(out / name), metadata={"format": "pt"})
    for f in dirs[0].iterdir():  # config, generation config, tokenizer, chat template, shard index
        if f.is_file() and not f.name.endswith(".safetensors") and f.name not in ("README.md", "finetune.json"):
            shutil.copy2(f, out / f.name)
    return out


def _base_of(model_dir: Path) -> dict | None:
    card = model_dir / "finetune.json"
    if not card.exists():
        return None
    base = json.loads(card.read_text()).get("base_model") or {}
    return {k: base.get(k) for k in ("model", "sha256", "revision")}


def write_card(out: Path, recipe: Recipe, result: FinetuneResult, base: dict, dataset_dir: str, data_report: dict,
               evaluation: dict | None = None) -> Path:
    """models/<name>/README.md (+ finetune.json): base model, data, hyperparameters, losses and eval numbers."""
    facts = {"recipe": dataclasses.asdict(recipe), "base_model": base, "dataset": dataset_dir,
             "result": {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(result).items()},
             "data_report": {k: data_report.get(k) for k in ("parsed", "joined", "splits", "writers", "first_pass")},
             "evaluation": evaluation}
    archive.write_atomic(out / "finetune.json", json.dumps(facts, ensure_ascii=False, indent=1))
    fmt = lambda v: "–" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
    hp = "\n".join(f"| {k} | {v} |" for k, v in dataclasses.asdict(recipe).items())
    lines = [
        f"# {recipe.name}", "",
        f"A {'LoRA (merged)' if recipe.method == 'lora' else 'fully'} fine-tuned copy of `{base.get('model')}` "
        f"that writes `{recipe.style or 'mixed'}` digest entries. Load it with "
        f"`summarizer digest --model {out}`." + (" The adapter alone is in `adapter/`." if result.adapter else ""),
        "", "## Base model", "", f"- model: `{base.get('model')}`", f"- sha256/revision: "
        f"`{base.get('sha256') or base.get('revision')}`", f"- dtype while training: {recipe.dtype}", "",
        "## Data", "", f"- dataset: `{dataset_dir}` (style {recipe.style or 'all'})",
        f"- digest entries parsed {data_report.get('parsed', '?')}, joined {data_report.get('joined', '?')}",
        "- written by: " + (", ".join(f"{w or 'unknown (published pages)'} ({n})"
                                       for w, n in (data_report.get("writers") or {}).items()) or "not recorded")
        + " — a model trained on another model's summaries learns that model's writing, flaws included",
        f"- train examples {result.train_examples}, validation examples {result.validation_examples}, "
        f"abstracts shortened to fit max_length: {result.shortened}", "",
        "## Hyperparameters", "", "| setting | value |", "|---|---|", hp, "",
        "## Results", "", "| metric | value |", "|---|---|",
        f"| steps | {result.steps} |", f"| train loss | {fmt(result.train_loss)} |",
        f"| validation loss before | {fmt(result.eval_loss_before)} |",
        f"| validation loss after | {fmt(result.eval_loss_after)} |",
        f"| wall minutes (load, train, eval) | {result.seconds / 60:.1f} |",
    ]
    if result.run_losses:
        seeds = f"{recipe.seed}-{recipe.seed + len(result.run_losses) - 1}"
        lines += ["", f"The weights are the mean of {len(result.run_losses)} runs (seeds {seeds}, each in "
                  f"`runs/`); their validation losses after training: "
                  + ", ".join(fmt(v) for v in result.run_losses) + "."]
    if evaluation:
        for k in ("chrf", "rouge_l", "format_valid", "language_ok", "numbers_ok", "grounded", "tokens_per_second"):
            if k in evaluation:
                lines.append(f"| eval {k} | {fmt(evaluation[k])} |")
        lines += ["", f"chrF signature: `{evaluation.get('chrf_signature')}`"]
    from huggingface_hub import ModelCard, ModelCardData

    from summarizer.loading import HUB_ID

    style = STYLES.get(recipe.style or "")
    meta = ModelCardData(  # the Hub's metadata header: base model (when it is a Hub id), language, tags
        base_model=base.get("model") if HUB_ID.match(str(base.get("model"))) else None,
        language=[style.language] if style else None, library_name="transformers",
        tags=["summarizer", recipe.method, *([style.name] if style else [])],
    )
    card = ModelCard(f"---\n{meta.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n")
    archive.write_atomic(out / "README.md", str(card))
    return out / "README.md"
