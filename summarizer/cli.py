"""Thin typer CLI: parses options, calls the library, turns its exceptions into one-line errors and exit codes."""

from __future__ import annotations

import typer

from summarizer import SummarizerError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False)


def fail(exc: SummarizerError) -> None:
    """Print a library error as one line and exit 2 (the only place that turns errors into exit codes)."""
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


# Commands below, one per stage: fetch, generate, digest, dataset, eval.
