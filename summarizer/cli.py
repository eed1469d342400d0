"""Thin typer CLI: parses options, calls the library, turns its exceptions into one-line errors and exit codes."""

from __future__ import annotations

import warnings
from typing import Annotated

import typer

from summarizer import SummarizerError
from summarizer.styles import STYLES

HELP = """Daily digests of Hugging Face Daily Papers, written by an open-weights model on your own machine.

Fetches a day's papers (the HF API, an RSS/Atom feed, or the local archive), has a local model summarize each one in
the digest style you choose (Chinese, Korean or English), checks every summary against its abstract, and writes a
Markdown page with a JSON sidecar under $SUMMARIZER_HOME/digests/ (default ./data). No API key, nothing sent out.

Start with:  summarizer digest --date 2025-10-26 --style en-bullets
"""
EPILOG = ("Every command has its own --help. Guides: docs/ in the repository (validation, models, engine, "
          "fine-tuning, configuration).")

app = typer.Typer(add_completion=False, no_args_is_help=True, help=HELP, epilog=EPILOG,
                  rich_markup_mode="markdown", pretty_exceptions_enable=False)
DIGESTS, LEARN, DEBUG = "Write digests", "Learn from digests", "Try a model"


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


@app.command(rich_help_panel=DIGESTS)
def fetch(
    date: Annotated[str, typer.Option(help="The Daily Papers day, YYYY-MM-DD (e.g. 2025-10-26).")],
    source: Annotated[str, typer.Option(help="Where the papers come from: 'hf' (the Hugging Face daily papers API; "
                                             "HF_ENDPOINT points it at a mirror), or an RSS/Atom feed URL or file "
                                             "(e.g. feeds/hf-daily-2025-10-26.xml).")] = "hf",
    refresh: Annotated[bool, typer.Option("--refresh", help="Ask the source again even if the day is archived; "
                                                            "papers are merged, never lost.")] = False,
    no_arxiv: Annotated[bool, typer.Option("--no-arxiv", help="Don't ask arXiv for abstracts the source lacks "
                                                              "(one request every 3 s).")] = False,
) -> None:
    """Only collect a day's papers into the local archive, and list them, most upvoted first."""
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


@app.command(rich_help_panel=LEARN)
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
    keep_invalid: Annotated[bool, typer.Option("--keep-invalid", help="Keep references that fail the style's "
                                               "validation or carry a flaw a reader would not keep (scores equal to "
                                               "the example's, a word broken between scripts, a repeated item).")] = False,
) -> None:
    """Turn earlier digests (or a large model's JSONL summaries) into a training and validation dataset.

    Example: summarizer dataset data/digests --out data/dataset --split-by day
    """
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


@app.command(name="eval", rich_help_panel=LEARN)
def eval_(
    dataset: Annotated[str, typer.Option(help="Directory written by `summarizer dataset`.")],
    model: Annotated[str | None, typer.Option(help="Model to evaluate (default: the embedded SmolLM2).")] = None,
    style: Annotated[str | None, typer.Option(help="Only rows of this style.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N validation rows.")] = None,
    out: Annotated[str | None, typer.Option(help="Report path (.json; a .md table is written beside it).")] = None,
    split: Annotated[str, typer.Option(help="Dataset split to score.")] = "validation",
    retries: Annotated[int, typer.Option(help="Retries per paper, as `summarizer digest --retries`; default 0 (the "
                                              "first pass alone). With retries the report counts them per paper.")] = 0,
    against: Annotated[str | None, typer.Option(
        help="A second model (preset, directory or .gguf) scored on the same papers, e.g. the base of a fine-tune: "
             "the report puts the two side by side with the change.")] = None,
    card: Annotated[bool, typer.Option(
        help="With --against: write the comparison into --model's card (README.md) as \"Compared with its "
             "base\".")] = False,
) -> None:
    """Score a model on a dataset's validation papers: chrF and ROUGE-L against the references, validity (first pass
    and after retries), retries and engine rounds per paper, reply length, the quality signals, papers per minute.

    Example: summarizer eval --dataset data/dataset --model models/my-lora --against qwen2.5-coder-0.5b --retries 2
    --card
    """
    from summarizer.evaluate import (
        comparison_table,
        evaluate,
        markdown_table,
        paired_change,
        write_card_comparison,
        write_report,
    )

    try:
        if card and not (against and model):
            raise SummarizerError("--card needs --model (the tuned model's directory) and --against (its base).")
        result = evaluate(model, dataset, style=style, limit=limit, split=split, retries=retries)
        base = evaluate(against, dataset, style=style, limit=limit, split=split, retries=retries) if against else None
        if base is not None:
            result["compared_with"] = base
            result["paired"] = paired_change(base["per_example"], result["per_example"])
        paths = write_report(result, out) if out else None
        table = comparison_table(base, result, result.get("paired")) if base is not None else markdown_table(result)
        written = write_card_comparison(model, table) if card else None
    except SummarizerError as exc:
        fail(exc)
    typer.echo(table)
    for path in (paths[0] if paths else None, written):
        if path:
            typer.echo(str(path))


@app.command(rich_help_panel=LEARN)
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


@app.command(rich_help_panel=DEBUG)
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
    allow_offload: Annotated[bool, typer.Option("--allow-offload", help="On a GPU, run a model too big for the GPUs' "
                                                                        "memory with part of it on the CPU or disk "
                                                                        "(~10× slower). Without it, that is an "
                                                                        "error.")] = False,
) -> None:
    """Try a model: generate a reply for each PROMPT (stdout); provenance and speed go to stderr.

    Example: summarizer generate "Summarize: ..." --model qwen2.5-coder-0.5b
    """
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
        lm = load_model(model, dtype=dtype or "auto", trust_remote_code=trust_remote_code, allow_pickle=allow_pickle,
                        allow_offload=allow_offload)
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


MODEL_HELP = ("The model: a preset of models/ (e.g. qwen2.5-7b-instruct, qwen2.5-coder-0.5b), a .gguf file, a "
              "folder with safetensors (e.g. one you fine-tuned) or a Hugging Face id already in your HF cache. "
              "Default: the embedded SmolLM2-135M (English only).")


@app.command(rich_help_panel=DIGESTS)
def site(
    out: Annotated[str, typer.Option(help="Folder the site is written into (default: site).")] = "site",
    base_url: Annotated[str, typer.Option(help="The site's public address, for absolute links in the Atom feeds, "
                                               "e.g. https://example.org/papers/ (default: links relative to the "
                                               "site).")] = "",
) -> None:
    """Write a static HTML site of every digest, with search and filters, and an Atom feed per style.

    Reads the sidecars under $SUMMARIZER_HOME/digests; the pages work from file:// too.

    Example: summarizer site --out site/
    """
    from pathlib import Path

    from summarizer import site as pages
    from summarizer.papers import web_url

    try:
        if base_url and not web_url(base_url):
            raise SummarizerError(f"The base URL {base_url!r} is not a plain http(s) URL.")
        files, skipped = pages.build(pages.load(), base_url)
        pages.write(files, Path(out))
    except SummarizerError as exc:
        fail(exc)
    for line in skipped:
        typer.echo(f"skipped: {line}", err=True)
    feeds = sum(1 for f in files if f.endswith("feed.xml"))
    typer.echo(f"{len(files) - feeds - 1} digest pages and {feeds} feeds written.")
    typer.echo(str(Path(out) / "index.html"))


@app.command(rich_help_panel=DIGESTS)
def digest(
    date: Annotated[str | None, typer.Option(help="The Daily Papers day, YYYY-MM-DD, e.g. 2025-10-26 (default: "
                                                  "today, UTC).")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Backfill: the first day of a range, YYYY-MM-DD; each "
                                               "day is digested in turn with one model load, e.g. --from 2025-10-20 "
                                               "--to 2025-10-26. Days already done are skipped.")] = None,
    to: Annotated[str | None, typer.Option(help="Backfill: the last day of the range (default: today, UTC).")] = None,
    week: Annotated[str | None, typer.Option(help="A weekly digest of an ISO week's most upvoted papers (--top, "
                                             "default 10), e.g. 2025-W43; day digests' summaries are reused.")] = None,
    month: Annotated[str | None, typer.Option(help="A monthly digest of a month's most upvoted papers (--top, "
                                              "default 10), e.g. 2025-10.")] = None,
    style: Annotated[str, typer.Option(help=f"The digest's format and language, one of: {', '.join(STYLES)}. "
                                            "The styles table in the README shows each.")] = "en-bullets",
    model: Annotated[str | None, typer.Option(help=MODEL_HELP)] = None,
    source: Annotated[str, typer.Option(help="Where the papers come from: 'hf' (the Hugging Face daily papers API), "
                                             "or an RSS/Atom feed URL or file; in a range, {date} in it becomes each "
                                             "day, e.g. 'feeds/{date}.xml'; with --week/--month, 'hf' or 'archive' "
                                             "(built from the archived days). A day already fetched is read from "
                                             "the archive.")] = "hf",
    top: Annotated[int | None, typer.Option(help="Only the N most upvoted papers (after the filters below), e.g. 5 "
                                                 "for a quick look. Default: every paper of a day, 10 of a week or "
                                                 "month.")] = None,
    limit: Annotated[int | None, typer.Option(help="The same as --top.")] = None,
    min_upvotes: Annotated[int, typer.Option(help="Only papers with at least K upvotes.")] = 0,
    include: Annotated[str | None, typer.Option(help="Only papers whose title or abstract holds one of these "
                                                     "comma-separated words (case-blind), e.g. 'diffusion,agent'.")] = None,
    exclude: Annotated[str | None, typer.Option(help="Leave out papers whose title or abstract holds one of these "
                                                     "comma-separated words (case-blind), e.g. 'survey'.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Summarize every paper again, even those an earlier run of "
                                                        "this day, style and model already wrote.")] = False,
    no_arxiv: Annotated[bool, typer.Option("--no-arxiv", help="Don't ask arXiv for abstracts the source lacks; such "
                                                              "papers are listed with their facts only.")] = False,
    retries: Annotated[int, typer.Option(help="How often a summary that fails its checks is written again (resampled, "
                                              "then with a prompt that names the problem).")] = 2,
    dtype: Annotated[str, typer.Option(help="Weights' precision: auto (bf16 where the GPU or CPU does it natively, "
                                            "else fp16 on GPUs and fp32 on CPUs), float32, bfloat16 or float16.")] = "auto",
    batch_size: Annotated[int | None, typer.Option(help="At most this many papers per batch. Default: the model "
                                                        "preset's (on a GPU, sized from its free memory).")] = None,
    token_budget: Annotated[int | None, typer.Option(help="At most this many padded tokens per batch (rows × "
                                                          "(prompt + reply)). Default: the model preset's.")] = None,
    batching: Annotated[str | None, typer.Option(help="auto, static (length-sorted padded batches) or continuous "
                                                     "(transformers' generate_batch). Default: the preset's, auto: "
                                                     "the mode measured faster on your device.")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="Token allowance per summary. Default: the style's.")] = None,
    trust_remote_code: Annotated[bool, typer.Option("--trust-remote-code", help="Allow a model's own Python code "
                                                                                "to run (off: only transformers' "
                                                                                "code runs).")] = False,
    allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help="Allow weights stored only as pickle files, "
                                                                      "which can run code when loaded.")] = False,
    allow_offload: Annotated[bool, typer.Option("--allow-offload", help="On a GPU, run a model too big for the GPUs' "
                                                                        "memory with part of it on the CPU or disk "
                                                                        "(~10× slower). Without it, that is an "
                                                                        "error.")] = False,
) -> None:
    """Write a day's digest: fetch the papers, summarize each with a local model, check, and save the page.

    The page goes to $SUMMARIZER_HOME/digests/STYLE/DATE.md (default ./data), with a .json sidecar holding every
    field, the model's raw reply and its provenance; the last line printed is its path. Rerunning the same day,
    style and model reuses every summary that passed its checks (--force writes them again). With --from/--to,
    every day of the range in turn, then a table of the days: digested, done, empty or failed (the exit status is
    1 when a day failed; the other days are still digested).

    Example: summarizer digest --date 2025-10-26 --style zh-digest --model qwen2.5-7b-instruct
    """
    import datetime as dt

    from summarizer import archive, backfill, period
    from summarizer.config import GenerationConfig
    from summarizer.digest import digest as run_digest
    from summarizer.digest import get_style
    from summarizer.selection import Selection, describe, keywords

    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    options = {"arxiv": not no_arxiv, "retries": retries,
               "load": {"dtype": dtype, "trust_remote_code": trust_remote_code, "allow_pickle": allow_pickle,
                        "allow_offload": allow_offload},
               "overrides": {"batch_size": batch_size, "token_budget": token_budget, "max_new_tokens": max_new_tokens,
                             "batching": batching}}
    try:
        given = [name for name, value in (("--date", date), ("--from", from_), ("--week", week), ("--month", month))
                 if value]
        if len(given) > 1:
            raise SummarizerError(f"Pass one of --date, --from/--to, --week and --month, not {' and '.join(given)}.")
        if to and not from_:
            raise SummarizerError("--to needs --from (the first day of the range).")
        if top is not None and limit is not None and top != limit:
            raise SummarizerError("--top and --limit are the same option; pass one of them.")
        get_style(style)
        GenerationConfig(batching=batching or "auto")  # a bad value is an error before any I/O
        top = top if top is not None else limit
        if top is None and (week or month):
            top = period.DEFAULT_TOP
        selection = Selection(top=top, min_upvotes=min_upvotes, include=keywords(include),
                              exclude=keywords(exclude))
        if from_:
            outcomes = backfill.backfill(
                from_, to or today, style, model, source=source, force=force, selection=selection,
                on_day=lambda o: typer.echo(f"{o.date}: {o.status} ({o.detail})", err=True), **options)
        elif week or month:
            period.parse(week or month, expect="week" if week else "month")  # before any I/O
            result = period.digest_period(week or month, style, model, source=source, selection=selection,
                                          **{k: v for k, v in options.items() if k != "arxiv"})
        else:
            archive.validate_day(date or today)
            result = run_digest(date or today, style, model, source=source, force=force, selection=selection,
                                **options)
    except SummarizerError as exc:
        fail(exc)
    if from_:
        typer.echo(backfill.table(outcomes))
        if any(o.status == "failed" for o in outcomes):
            raise typer.Exit(1)
        return
    chosen = f"; {describe(result.left_out)}" if result.left_out else ""
    if not result.papers:
        typer.echo(f"No papers to digest{chosen or ' (the source listed none: a weekend or a holiday?)'}; nothing "
                   "was written.")
        return
    failed = ", ".join(f"{rule} {n}" for rule, n in sorted(result.failures.items())) or "none"
    typer.echo(f"{result.papers} papers ({result.repeats} repeats): {result.reused} reused, {result.generated} "
               f"generated, {result.valid} valid, {result.no_abstract} without an abstract (not summarized); "
               f"failing rules: {failed}{chosen}.")
    if result.generated:
        typer.echo(f"engine rounds: {result.rounds} for {result.generated} papers "
                   f"({result.rounds / result.generated:.1f} a paper, at most {result.round_budget} each).")
    for defect in result.defects:
        typer.echo(f"defect: {defect}")
    typer.echo(result.quality)
    typer.echo(str(result.path))
