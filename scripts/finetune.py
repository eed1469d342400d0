"""Fine-tune a causal LM on a dataset from `summarizer dataset` (thin entry; runs under `accelerate launch` too).

    python scripts/finetune.py --recipe models/finetune-lora.yaml --dataset data/dataset [--eval-limit 20]
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from summarizer import SummarizerError
from summarizer.cli import fail

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(
    recipe: Annotated[Path, typer.Option(help="Commented YAML recipe (see models/finetune-lora.yaml).")],
    dataset: Annotated[Path, typer.Option(help="Directory written by `summarizer dataset`.")],
    out: Annotated[Path | None, typer.Option(help="Output dir (default: <output_root>/<name>/ of the recipe).")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Override the recipe's max_steps.")] = None,
    epochs: Annotated[float | None, typer.Option(help="Override the recipe's epochs.")] = None,
    method: Annotated[str | None, typer.Option(help="Override the recipe's method: lora or full.")] = None,
    eval_limit: Annotated[int, typer.Option(help="After training, eval this many validation rows (0 = skip).")] = 0,
    learning_rate: Annotated[float | None, typer.Option(help="Override the recipe's learning_rate.")] = None,
    max_train_examples: Annotated[int | None, typer.Option(help="Override the recipe's max_train_examples (0 = all).")] = None,
    dtype: Annotated[str | None, typer.Option(help="Override the recipe's dtype: float32, bfloat16 (where the CPU "
                                              "has AVX512-BF16/AMX, or on a GPU), or auto (bfloat16 where the "
                                              "hardware has it, else float32).")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the recipe's seed (data order, dropout).")] = None,
    runs: Annotated[int | None, typer.Option(help="Override the recipe's runs: train this many times (seeds seed, "
                                             "seed+1, ...) and keep the mean of their weights.")] = None,
    no_eval_before: Annotated[bool, typer.Option("--no-eval-before", help="Skip the base model's validation loss.")] = False,
) -> None:
    """Train per the recipe, save the merged model and its card, and print the paths and losses."""
    from accelerate import PartialState

    from summarizer import evaluate, finetune

    try:
        r = finetune.load_recipe(recipe, max_steps=max_steps, epochs=epochs, method=method,
                                 learning_rate=learning_rate, max_train_examples=max_train_examples,
                                 dtype=dtype, seed=seed, runs=runs)
        result = finetune.finetune(r, dataset, out, eval_before=not no_eval_before)
        if eval_limit > 0 and result.validation_examples:
            ev = evaluate.evaluate(str(result.path), dataset, style=r.style, limit=eval_limit)
            if not PartialState().is_main_process:  # every process generated its share; one writes
                return
            evaluate.write_report(ev, result.path / "eval.json")
            base = json.loads((result.path / "finetune.json").read_text())["base_model"]
            finetune.write_card(result.path, r, result, base, str(dataset), finetune.data_report(dataset),
                                {k: v for k, v in ev.items() if k != "per_example"})
    except SummarizerError as exc:
        fail(exc)
    shown = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(result).items()}
    typer.echo(json.dumps(shown, indent=1))
    typer.echo(str(result.path))


if __name__ == "__main__":
    sys.exit(app())
