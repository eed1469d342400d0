"""Weekly and monthly digests: the period strings, the API's week/month list, the archive fallback, reuse of the
day digests' summaries, top N by upvotes."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import json_response
from test_digest import FIELDS, FakeEngine, fake_lm, hf_item
from typer.testing import CliRunner

from summarizer import SummarizerError, archive, period
from summarizer import digest as pipeline
from summarizer.cli import app
from summarizer.fetch import FetchConfig
from summarizer.prompt import format_output
from summarizer.selection import Selection
from summarizer.styles import STYLES

FAST = FetchConfig(max_retries=0, base_wait=0, max_wait=0, timeout=5, arxiv_delay=0)
NOW = dt.datetime(2025, 11, 20, tzinfo=dt.timezone.utc)


def listed(pid: str, upvotes: int, day: str) -> dict:
    return {**hf_item(pid, f"Paper {pid}", upvotes), "publishedAt": f"{day}T08:00:00.000Z"}


WEEK = [listed(f"2510.100{n:02d}", n, f"2025-10-{20 + n % 7}") for n in range(12)]  # 12 papers of 2025-W43


@pytest.mark.parametrize("value,kind,first,count", [
    ("2025-W43", "week", "2025-10-20", 7), ("2025-10", "month", "2025-10-01", 31), ("2024-02", "month", "2024-02-01", 29),
    ("2020-W53", "week", "2020-12-28", 7), ("2025-11", "month", "2025-11-01", 20)])  # a month still running: to today
def test_periods_and_their_days(value, kind, first, count):
    k, days = period.parse(value, NOW)
    assert (k, days[0], len(days)) == (kind, first, count)


@pytest.mark.parametrize("value,expect,message", [
    ("2025-W54", None, "2025 has ISO weeks W01 to W52"), ("2025-13", None, "months run from 01 to 12"),
    ("2025-43", "week", "YYYY-Www"), ("2025-W43", "month", "YYYY-MM"), ("W43", None, "neither a week"),
    ("2026-W01", None, "has not begun yet")])
def test_bad_periods_are_one_line_errors(value, expect, message):
    with pytest.raises(SummarizerError, match=message) as err:
        period.parse(value, NOW, expect)
    assert "\n" not in str(err.value)


@pytest.fixture
def api(serve, monkeypatch):
    from huggingface_hub import constants

    state = {"status": 200}

    def answer(path, headers):
        if not path.startswith("/api/daily_papers"):
            return json_response({"error": "not found"}, status=404)
        if state["status"] != 200:
            return json_response({"error": "down"}, status=state["status"])
        if "week=2025-W43" in path:
            return json_response(WEEK if "p=0" in path else [])
        if "date=2025-10-21" in path:
            return json_response([w for w in WEEK if w["publishedAt"].startswith("2025-10-21")] if "p=0" in path else [])
        return json_response([])

    server = serve(answer)
    server.state = state
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr("time.sleep", lambda s: None)
    return server


def engine_for(style, monkeypatch):
    fake = FakeEngine(lambda p: format_output(STYLES[style], FIELDS[style]))
    monkeypatch.setattr(pipeline.engine, "generate", fake)
    monkeypatch.setattr(pipeline, "duplicates", lambda summaries: {})
    return fake


def test_the_api_week_list_asked_with_week_and_each_paper_dated_by_its_day(api, home):
    papers, origin = period.collect("2025-W43", config=FAST)
    assert origin == "hf" and any("week=2025-W43" in r for r in api.requests)
    assert [p.upvotes for p in papers] == sorted((p.upvotes for p in papers), reverse=True)
    assert {p.id: p.date for p in papers}["2510.10001"] == "2025-10-21"


@pytest.mark.parametrize("style", sorted(STYLES))
def test_top_ten_by_upvotes_reusing_the_day_digests(style, api, home, monkeypatch):
    engine_for(style, monkeypatch)
    pipeline.digest("2025-10-21", style, lm=fake_lm(), home=home, arxiv=False)  # 2510.10001 and 2510.10008
    fake = engine_for(style, monkeypatch)
    result = period.digest_period("2025-W43", style, lm=fake_lm(), home=home, config=FAST)
    assert result.path == home / "digests" / style / "2025-W43.md"
    assert (result.papers, result.reused, result.left_out) == (10, 1, {"top": 2})  # 2510.10001 is not in the top 10
    doc = json.loads(result.sidecar.read_text(encoding="utf-8"))
    assert doc["date"] == "2025-W43" and [p["upvotes"] for p in doc["papers"]] == list(range(11, 1, -1))
    assert doc["selection"]["top"] == 10 and doc["selection"]["left_out"] == {"top": 2}
    assert len(fake.passes(style)) == 1 and "2510.10008" not in {p.key for p in fake.passes(style)[0]}
    assert len(fake.passes(style)[0]) == 9
    again = engine_for(style, monkeypatch)
    assert period.digest_period("2025-W43", style, lm=fake_lm(), home=home, config=FAST).reused == 10
    assert again.calls == []


def test_the_zh_week_page_links_the_hf_week_list(api, home, monkeypatch):
    engine_for("zh-digest", monkeypatch)
    result = period.digest_period("2025-W43", "zh-digest", lm=fake_lm(), home=home, config=FAST,
                                  selection=Selection(top=2))
    assert "https://huggingface.co/papers/week/2025-W43" in result.path.read_text(encoding="utf-8")


def test_an_unreachable_api_builds_the_month_from_the_archived_days(api, home, monkeypatch, caplog):
    for day in ("2025-10-03", "2025-10-04"):
        archive.save_day(day, "hf", [p.replace(date=day) for p in period.collect("2025-W43", config=FAST)[0][:3]], {})
    api.state["status"] = 500
    papers, origin = period.collect("2025-10", config=FAST)
    assert origin == "archive" and len(papers) == 3  # the same paper on two days is one paper
    assert "built from its archived days" in caplog.text
    with pytest.raises(SummarizerError, match="no day of it is archived"):
        period.collect("2025-09", config=FAST)
    api.state["status"] = 200  # the API answers, but lists nothing for the month: the archived days again
    assert period.collect("2025-10", config=FAST)[1] == "archive" and "listed no papers" in caplog.text
    assert period.collect("2025-09", config=FAST) == ([], "hf")
    with pytest.raises(SummarizerError, match="'hf' .* or 'archive'"):
        period.collect("2025-10", source="feeds/x.xml")


@pytest.mark.parametrize("args,message", [
    (["--week", "2025-10"], "YYYY-Www"), (["--month", "2025-W43"], "YYYY-MM"),
    (["--week", "2025-W43", "--date", "2025-10-20"], "not --date and --week")])
def test_cli_rejects_bad_periods_before_any_io(home, args, message):
    res = CliRunner().invoke(app, ["digest", *args])
    assert res.exit_code == 2 and message in res.output and not home.exists()


def test_a_month_reuses_the_week_digests_too(api, home, monkeypatch):
    engine_for("en-bullets", monkeypatch)
    period.digest_period("2025-W43", "en-bullets", lm=fake_lm(), home=home, config=FAST)
    archive.save_day("2025-10-22", "hf", period.collect("2025-W43", config=FAST)[0], {})
    api.state["status"] = 500  # the month is built from the archived day, which lists the week's papers
    again = engine_for("en-bullets", monkeypatch)
    result = period.digest_period("2025-10", "en-bullets", lm=fake_lm(), home=home, config=FAST)
    assert (result.papers, result.reused, again.calls) == (10, 10, [])
    assert period.overlapping(["2025-10-31", "2025-11-01"]) == [
        "2025-10-31", "2025-11-01", "2025-W44", "2025-10", "2025-11"]
