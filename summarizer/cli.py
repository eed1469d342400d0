"""Thin typer CLI: parses options, calls the library, turns its exceptions into one-line errors and exit codes."""

from __future__ import annotations

import warnings
from typing import Annotated

import typer

from summarizer import SummarizerError
from summarizer.styles import STYLES

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False)


def fail(exc: SummarizerError) -> None:
    """Print a library error as one line and exit 2 (the only place that turns errors into exit codes)."""
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


# Commands below, one per stage: fetch, generate, digest, dataset, eval, quality.


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """A Python warning (the engine's TruncationWarning, a library's notice) as one `warning: ...` line, without
    the file:line and the source line of ours that Python prints after it."""
    typer.echo(f"warning: {' '.join(str(message).split())}", err=True)


@app.callback()
def _main() -> None:
    """Keep `summarizer COMMAND` explicit even while only one command is registered."""
    warnings.showwarning = _warning_line


@app.command()
def fetch(
    date: Annotated[str, typer.Option(help="The Daily Papers day, YYYY-MM-DD.")],
    source: Annotated[str, typer.Option(help="'hf' (the HF daily papers API), or an RSS/Atom feed URL or file.")] = "hf",
    refresh: Annotated[bool, typer.Option("--refresh", help="Fetch again even if the day is archived.")] = False,
    no_arxiv: Annotated[bool, typer.Option("--no-arxiv", help="Don't complete missing abstracts from arXiv.")] = False,
) -> None:
    """Collect the papers of one day into the local archive and list them, most upvoted first."""
    from summarizer import archive
    from summarizer.fetch import collect

    try:
        archive.validate_day(date)
        papers = collect(date, source, refresh=refresh, arxiv=not no_arxiv)
        record = archive.load_record(date) or {}
    except SummarizerError as exc:
        fail(exc)
    for p in papers:
        repeat = f"  [repeat of {p.repeat_of}]" if p.repeat_of else ""
        missing = "  [no abstract]" if not p.abstract else ""
        typer.echo(f"{p.id:<12} {p.upvotes:>5}  {p.title or '(no title)'}{repeat}{missing}")
    repeats = sum(1 for p in papers if p.repeat_of)
    extra = f", {repeats} already digested earlier" if repeats else ""
    typer.echo(f"{len(papers)} papers for {date}{extra} (source {record.get('source', source)}, "
               f"fetched {record.get('fetched_at', 'now')}).")


@app.command()
def dataset(
    digests: Annotated[list[str], typer.Argument(help="Digest files (.md/.txt pages, .json sidecars, "
                                                 "daily-arXiv-ai-enhanced .jsonl) or folders.")],
    out: Annotated[str, typer.Option(help="Output directory for the DatasetDict, JSONL files and report.json.")],
    style: Annotated[str | None, typer.Option(help="Read pages as this style (default: detect) and keep only it.")] = None,
    model: Annotated[str | None, typer.Option(help="Also store the exact chat-template prompt of this model.")] = None,
    validation_share: Annotated[float, typer.Option(help="Share of paper ids (by hash), or with --split-by day of "
                                                         "the days (the latest), in the validation split.")] = 0.1,
    split_by: Annotated[str | None, typer.Option(help="'id' (a hash of the arXiv id) or 'day' (whole days held out, "
                                                       "days the model never saw); default id.")] = None,
    validation_days: Annotated[str | None, typer.Option(help="Comma-separated days (YYYY-MM-DD) held out for "
                                                             "validation; implies --split-by day.")] = None,
    no_arxiv: Annotated[bool, typer.Option("--no-arxiv", help="Don't ask arXiv for abstracts missing from the archive.")] = False,
    keep_invalid: Annotated[bool, typer.Option("--keep-invalid", help="Keep references that fail the style's validation.")] = False,
) -> None:
    """Build a training/evaluation dataset from earlier digests, joined with their abstracts; lists every skip."""
    from summarizer.dataset import build_dataset, check_split

    days = tuple(d.strip() for d in (validation_days or "").split(",") if d.strip())
    split_by = split_by or ("day" if days else "id")
    try:
        check_split(split_by, days)  # before a model load: a typo fails at once
        tokenizer = None
        if model is not None:
            from summarizer.engine import load_model

            tokenizer = load_model(model).tokenizer
        report = build_dataset(digests, out, style=style, tokenizer=tokenizer, arxiv=not no_arxiv,
                               validation_share=validation_share, check=not keep_invalid,
                               split_by=split_by, validation_days=days)
    except SummarizerError as exc:
        fail(exc)
    for source, paper, reason in report.skipped:
        typer.echo(f"skipped {source} {paper}: {reason}")
    if report.notes:
        typer.echo(f"{len(report.notes)} lossy changes kept (see report.json), e.g. {report.notes[0]}")
    typer.echo(report.summary())
    typer.echo(report.out_dir)


@app.command(name="eval")
def eval_(
    dataset: Annotated[str, typer.Option(help="Directory written by `summarizer dataset`.")],
    model: Annotated[str | None, typer.Option(help="Model to evaluate (default: the embedded SmolLM2).")] = None,
    style: Annotated[str | None, typer.Option(help="Only rows of this style.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N validation rows.")] = None,
    out: Annotated[str | None, typer.Option(help="Report path (.json; a .md table is written beside it).")] = None,
    split: Annotated[str, typer.Option(help="Dataset split to score.")] = "validation",
) -> None:
    """Generate for the validation split and score it against the reference digests (chrF, ROUGE-L, validity)."""
    from summarizer.evaluate import evaluate, markdown_table, write_report

    try:
        result = evaluate(model, dataset, style=style, limit=limit, split=split)
        paths = write_report(result, out) if out else None
    except SummarizerError as exc:
        fail(exc)
    typer.echo(markdown_table(result))
    if paths:
        typer.echo(str(paths[0]))


@app.command()
def quality(
    sidecars: Annotated[list[str], typer.Argument(help="Digest sidecars (the .json beside each digest page), e.g. "
                                                  "data/digests/zh-digest/2026-03-24.json.")],
    references: Annotated[list[str] | None, typer.Option(
        "--references", help="Reference summaries joined by arXiv id: daily-arXiv-ai-enhanced .jsonl files, or "
        "another run's sidecar (to compare two models, or a base and its fine-tune, on the same papers). "
        "Repeat the option for several files; default none (no chrF/ROUGE-L).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON instead of tables.")] = False,
) -> None:
    """Report how good each digest is, per paper and per digest: scores equal to the example's and their spread,
    prose copied from the abstract, repeated headings, misspelled names, broken words, coverage, chrF/ROUGE-L."""
    import json
    from pathlib import Path

    from summarizer.quality import digest_quality, load_references, report_table

    try:
        refs = load_references(references or [])
        reports = []
        for name in sidecars:
            try:
                doc = json.loads(Path(name).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise SummarizerError(f"The sidecar {name} cannot be read as JSON ({exc}).") from None
            reports.append(digest_quality(doc, refs, name))
    except SummarizerError as exc:
        fail(exc)
    if as_json:
        typer.echo(json.dumps(reports if len(reports) > 1 else reports[0], ensure_ascii=False, indent=1))
        return
    for report in reports:
        typer.echo(f"## {report['sidecar']}\n")
        typer.echo(report_table(report))


@app.command()
def generate(
    prompts: Annotated[list[str], typer.Argument(help="One or more prompts (each is the user turn).")],
    model: Annotated[str | None, typer.Option(help="Preset name, .gguf path, local dir or HF id (default: embedded SmolLM2).")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="Tokens to generate per prompt (default: the preset's).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Max prompts per batch.")] = None,
    token_budget: Annotated[int | None, typer.Option(help="Max padded tokens per batch (rows × (prompt + new)).")] = None,
    batching: Annotated[str | None, typer.Option(help="auto, static (padded length-sorted batches) or continuous "
                                                     "(transformers' generate_batch); default: the preset's.")] = None,
    dtype: Annotated[str | None, typer.Option(help="auto, float32, bfloat16 or float16 (default: the preset's).")] = None,
    sample: Annotated[bool, typer.Option("--sample", help="Sample instead of greedy decoding.")] = False,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature (with --sample).")] = None,
    top_p: Annotated[float | None, typer.Option(help="Nucleus mass (with --sample).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (with --sample).")] = None,
    system: Annotated[str, typer.Option(help="System message (empty: the model's default).")] = "",
    target_lang: Annotated[str | None, typer.Option(help="Seq2seq translators: target language code.")] = None,
    trust_remote_code: Annotated[bool, typer.Option("--trust-remote-code", help="Allow the model's own Python code.")] = False,
    allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help="Allow pickle-only weights (can run code).")] = False,
) -> None:
    """Debug the engine: generate a reply for each PROMPT (stdout); provenance and speed go to stderr."""
    import dataclasses
    import json
    import time

    from summarizer.config import GenerationConfig, override
    from summarizer.engine import generate as run
    from summarizer.engine import load_model
    from summarizer.prompt import Prompt

    try:
        GenerationConfig(batching=batching or "auto")  # a bad value is an error before the model loads
        started = time.perf_counter()
        lm = load_model(model, dtype=dtype or "auto", trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
        loaded = time.perf_counter() - started
        config = override(lm.generation, max_new_tokens=max_new_tokens, batch_size=batch_size, token_budget=token_budget,
                          batching=batching, do_sample=sample or None, temperature=temperature, top_p=top_p, seed=seed)
        items = [Prompt(key=f"prompt{i + 1}", system=system, user="{abstract}", abstract=text, target_lang=target_lang)
                 for i, text in enumerate(prompts)]
        started = time.perf_counter()
        gens = run(lm, items, config)
        seconds = time.perf_counter() - started
    except SummarizerError as exc:
        fail(exc)
    for gen in gens:
        if len(gens) > 1:
            typer.echo(f"--- {gen.key}")
        typer.echo(gen.text)
    made = sum(g.completion_tokens for g in gens)
    typer.echo(json.dumps({"provenance": lm.provenance, "config": dataclasses.asdict(config)}), err=True)
    typer.echo(f"loaded in {loaded:.1f} s; {made} tokens in {seconds:.1f} s = {made / seconds:.1f} tok/s; "
               f"finished {sum(g.finished for g in gens)}/{len(gens)}", err=True)


@app.command()
def digest(
    date: Annotated[str, typer.Option(help="The Daily Papers day, YYYY-MM-DD.")],
    style: Annotated[str, typer.Option(help=f"Digest style: {', '.join(STYLES)}.")] = "en-bullets",
    model: Annotated[str | None, typer.Option(help="Preset name, .gguf path, local dir or HF id (default: embedded SmolLM2).")] = None,
    source: Annotated[str, typer.Option(help="'hf' (the HF daily papers API), or an RSS/Atom feed URL or file.")] = "hf",
    limit: Annotated[int | None, typer.Option(help="Only the N most upvoted papers.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Summarize every paper again (ignore earlier results).")] = False,
    no_arxiv: Annotated[bool, typer.Option("--no-arxiv", help="Don't complete missing abstracts from arXiv.")] = False,
    retries: Annotated[int, typer.Option(help="Retries (sampled, then with a repair prompt) for a summary that fails validation.")] = 2,
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16 or float16.")] = "auto",
    batch_size: Annotated[int | None, typer.Option(help="Max papers per batch (default: the preset's).")] = None,
    token_budget: Annotated[int | None, typer.Option(help="Max padded tokens per batch.")] = None,
    batching: Annotated[str | None, typer.Option(help="auto, static (padded length-sorted batches) or continuous "
                                                     "(transformers' generate_batch); default: the preset's.")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="Tokens per summary (default: the style's).")] = None,
    trust_remote_code: Annotated[bool, typer.Option("--trust-remote-code", help="Allow the model's own Python code.")] = False,
    allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help="Allow pickle-only weights (can run code).")] = False,
) -> None:
    """Fetch a day, summarize every paper in one batched run, validate, and write the Markdown digest.

    The last line printed is the digest's path. Rerunning reuses every validated summary unless --force.
    """
    from summarizer import archive
    from summarizer.config import GenerationConfig
    from summarizer.digest import digest as run_digest
    from summarizer.digest import get_style

    try:
        archive.validate_day(date)
        get_style(style)
        GenerationConfig(batching=batching or "auto")  # a bad value is an error before any I/O
        result = run_digest(
            date, style, model, source=source, limit=limit, force=force, arxiv=not no_arxiv, retries=retries,
            load={"dtype": dtype, "trust_remote_code": trust_remote_code, "allow_pickle": allow_pickle},
            overrides={"batch_size": batch_size, "token_budget": token_budget, "max_new_tokens": max_new_tokens,
                       "batching": batching},
        )
    except SummarizerError as exc:
        fail(exc)
    failed = ", ".join(f"{rule} {n}" for rule, n in sorted(result.failures.items())) or "none"
    typer.echo(f"{result.papers} papers ({result.repeats} repeats): {result.reused} reused, {result.generated} "
               f"generated, {result.valid} valid, {result.no_abstract} without an abstract (not summarized); "
               f"failing rules: {failed}.")
    for defect in result.defects:
        typer.echo(f"defect: {defect}")
    typer.echo(result.quality)
    typer.echo(str(result.path))
