"""`summarizer fetch`: one line per paper, most upvoted first, repeats marked, a count line; one-line errors."""

from __future__ import annotations

import pytest
from huggingface_hub import constants
from test_fetch import ITEMS, pages
from test_papers import HTML_FEED
from typer.testing import CliRunner

from summarizer import archive
from summarizer.cli import app

runner = CliRunner()


@pytest.mark.parametrize("bad", ["2025-13-01", "../../etc"])
def test_bad_dates_exit_2_with_one_line_and_touch_nothing(bad, home, serve, monkeypatch):
    server = serve(pages(ITEMS))
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    result = runner.invoke(app, ["fetch", "--date", bad])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: The date") and result.stderr.count("\n") == 1
    assert server.requests == [] and not home.exists()


def test_fetch_lists_papers_then_serves_them_offline(home, serve, monkeypatch):
    server = serve(pages(ITEMS))
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    archive.mark_digested("2025-10-20", ["2510.00005"])
    result = runner.invoke(app, ["fetch", "--date", "2025-10-26"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        "2510.00002      50  Paper 2510.00002",
        "2510.00003       7  Paper 2510.00003",
        "2510.00005       7  Paper 2510.00005  [repeat of 2025-10-20]",
        "2510.00001       5  Paper 2510.00001",
        "2510.00004       0  Paper 2510.00004",
    ]
    fetched = archive.load_record("2025-10-26")["fetched_at"]
    assert lines[5] == f"5 papers for 2025-10-26, 1 already digested earlier (source hf, fetched {fetched})."
    server.stop()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    again = runner.invoke(app, ["fetch", "--date", "2025-10-26"])
    assert again.exit_code == 0 and again.stdout == result.stdout


def test_fetch_from_a_feed_file_and_offline_failure(home, tmp_path, monkeypatch):
    feed = tmp_path / "daily.xml"
    feed.write_bytes(HTML_FEED)
    result = runner.invoke(app, ["fetch", "--date", "2025-10-26", "--source", str(feed), "--no-arxiv"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "2510.00002    1204  Loud Robots"
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    failed = runner.invoke(app, ["fetch", "--date", "2025-10-27"])
    assert failed.exit_code == 2 and failed.stdout == ""
    assert failed.stderr.startswith("error: Could not fetch the papers of 2025-10-27:")
    assert "HF_HUB_OFFLINE=1" in failed.stderr and failed.stderr.count("\n") == 1
