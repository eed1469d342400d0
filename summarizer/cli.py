"""Thin typer CLI: parses options, calls the library, turns its exceptions into one-line errors and exit codes."""

from __future__ import annotations

from typing import Annotated

import typer

from summarizer import SummarizerError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False)


def fail(exc: SummarizerError) -> None:
    """Print a library error as one line and exit 2 (the only place that turns errors into exit codes)."""
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


# Commands below, one per stage: fetch, generate, digest, dataset, eval.


@app.callback()
def _main() -> None:
    """Keep `summarizer COMMAND` explicit even while only one command is registered."""


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
        archive.validate_date(date)
        papers = collect(date, source, refresh=refresh, arxiv=not no_arxiv)
        record = archive.load_record(date) or {}
    except SummarizerError as exc:
        fail(exc)
    for p in papers:
        repeat = f"  [repeat of {p.repeat_of}]" if p.repeat_of else ""
        missing = "  [no abstract]" if not p.abstract else ""
        typer.echo(f"{p.id:<12} {p.upvotes:>5}  {p.title}{repeat}{missing}")
    repeats = sum(1 for p in papers if p.repeat_of)
    extra = f", {repeats} already digested earlier" if repeats else ""
    typer.echo(f"{len(papers)} papers for {date}{extra} (source {record.get('source', source)}, "
               f"fetched {record.get('fetched_at', 'now')}).")
