"""Untrusted days end to end (#9): one crafted day on a loopback HF API through the CLI. Data is kept, each paper is
listed once, no markup from the data reaches a page, and a paper without an abstract never reaches the model."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from conftest import json_response
from test_digest import ABSTRACT, FakeEngine, fake_lm, ids_in, serve_day
from typer.testing import CliRunner

from summarizer import archive
from summarizer import digest as pipeline
from summarizer.cli import app
from summarizer.prompt import format_output
from summarizer.styles import STYLES

DATE = "2025-03-04"  # the day serve_day answers for
THUMBS = "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers"


def crafted(pid: str, title, abstract=ABSTRACT, authors=("Ada Example",), upvotes=5, thumbnail=None) -> dict:
    paper = {"id": pid, "title": title, "summary": abstract, "upvotes": upvotes,
             "authors": None if authors is None else [{"name": a} for a in authors]}
    return {"paper": paper, "thumbnail": thumbnail or f"{THUMBS}/{pid}.png"}


# Every row of the issue in one day, most upvoted first.
DAY = [
    crafted("2503.30001", "Plain Paper", upvotes=40),
    crafted("2503.30002", "Broken \ud800 Title", abstract=f"{ABSTRACT} \udfff\x00 \x1b[2J", upvotes=30),
    crafted("2503.30001v2", "Plain Paper, listed twice", upvotes=40),
    crafted("2503.30003", "HTML <b>Everywhere</b> <script>alert(1)</script>",
            authors=("Eve](http://evil.example)", "<img src=x onerror=alert(1)>"), upvotes=20,
            thumbnail='https://evil.example/x.png" onerror="alert(1)'),
    crafted("2503.30004", "Links](http://evil.example) [click", upvotes=10),
    crafted("2503.30005", "No Abstract", abstract="", upvotes=9),
    crafted("2503.30006", "Huge Abstract", abstract=("We count marbles in jars. " * 3000)[:60_000], upvotes=8),
    crafted("2503.30007", None, authors=None, upvotes=None),
]
IDS = ["2503.30001", "2503.30002", "2503.30003", "2503.30004", "2503.30005", "2503.30006", "2503.30007"]


def assert_clean(page: str) -> None:
    """No markup from the data: no tag but the layout's, no link or image but to arXiv/HF/shields, no evil host."""
    outside_code = re.sub(r"`[^`\n]*`", "", page)
    tags = {t.lower() for t in re.findall(r"<(/?[a-zA-Z]+)", outside_code)}
    assert tags <= {"details", "/details", "summary", "/summary", "div", "/div", "hr", "video", "/video", "source",
                    "img"}, tags
    targets = re.findall(r"(?<!\\)\]\(([^)]*)\)", outside_code)
    assert all(re.match(r"(https://(arxiv\.org|huggingface\.co|img\.shields\.io|cdn-thumbnails\.huggingface\.co)/|"
                        r"\.\./)", t) for t in targets), targets
    assert "evil.example/x.png" not in page and "onerror=\"" not in page
    assert "\ud800" not in page and "\x00" not in page and "\x1b" not in page


@pytest.fixture
def day(serve, monkeypatch):
    return serve_day(serve, monkeypatch, DAY)


def test_an_archived_day_survives_a_refresh_that_answers_nothing(day, home, monkeypatch, caplog):
    first = CliRunner().invoke(app, ["fetch", "--date", DATE, "--no-arxiv"])
    assert first.exit_code == 0, first.output
    assert [ln.split()[0] for ln in first.stdout.splitlines()[:-1]] == IDS  # one line per id, the day kept whole
    assert "Broken Title" in first.stdout and "(no title)" in first.stdout
    day.handler = lambda path, headers: json_response([])  # a list still being built: nothing yet
    with caplog.at_level(logging.WARNING, logger="summarizer.fetch"):
        again = CliRunner().invoke(app, ["fetch", "--date", DATE, "--no-arxiv", "--refresh"])
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[:-1] == first.stdout.splitlines()[:-1]
    assert [p["id"] for p in archive.load_record(DATE)["papers"]] == IDS
    assert "lists 0 papers where the archive has 7; kept the 7 archived papers it lacks" in caplog.text


def test_the_crafted_day_digests_to_a_clean_page_on_a_tiny_model(day, home, tiny_long_context_dir):
    args = ["digest", "--date", DATE, "--model", str(tiny_long_context_dir), "--max-new-tokens", "4",
            "--retries", "0", "--no-arxiv", "--dtype", "float32"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    page_path = Path(res.stdout.strip().splitlines()[-1])
    page = page_path.read_text(encoding="utf-8")
    assert [i for i, _ in ids_in(page)] == IDS  # one entry per paper, in upvote order
    assert_clean(page)
    assert "HTML &lt;b&gt;Everywhere&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "### [Links\\](http://evil.example) \\[click](https://arxiv.org/abs/2503.30004)" in page
    assert "Authors: Eve\\](http://evil.example), &lt;img src=x onerror=alert(1)&gt; · Upvotes: 20" in page
    assert "### [Untitled paper 2503.30007](https://arxiv.org/abs/2503.30007)" in page
    assert "Authors: unknown · Upvotes: 0" in page
    assert "<!-- paper:2503.30005 status:no_abstract -->" in page and "> no abstract available" in page
    records = json.loads(page_path.with_suffix(".json").read_text(encoding="utf-8"))["records"]
    assert records["2503.30005"]["status"] == "no-abstract" and records["2503.30005"]["raw"] is None  # no model call
    huge, plain = records["2503.30006"], records["2503.30004"]
    assert huge["truncated"] and huge["prompt_tokens"] - plain["prompt_tokens"] <= 1024  # the cap, not the context
    assert "7 papers (0 repeats): 0 reused, 6 generated" in res.stdout and "1 without an abstract" in res.stdout
    shortened = [ln for ln in res.stderr.splitlines() if "shortened" in ln]
    assert shortened == ["warning: Paper 2503.30006: abstract shortened from 60000 to 1024 tokens to fit the 1024 "
                         "tokens an abstract may take (max_abstract_tokens)."]
    assert "Traceback" not in res.output and "engine.py" not in res.stderr


@pytest.mark.parametrize("style", sorted(STYLES))
def test_the_crafted_day_is_clean_in_every_style(style, day, home, monkeypatch):
    fake = FakeEngine(lambda p: format_output(STYLES[style], {}))
    monkeypatch.setattr(pipeline.engine, "generate", fake)
    result = pipeline.digest(DATE, style, home=home, lm=fake_lm(), arxiv=False, retries=0)
    page = result.path.read_text(encoding="utf-8")
    assert [i for i, _ in ids_in(page)] == IDS
    assert_clean(page)
    assert "2503.30005" not in {p.key for call in fake.calls for p in call}
    assert result.no_abstract == 1 and len(archive.load_papers(DATE)) == 7
