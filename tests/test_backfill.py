"""Backfill of a day range (one model, a table of the days, reruns generate nothing) and the paper selection."""

from __future__ import annotations

import json

import pytest
from conftest import json_response
from test_digest import ABSTRACT, FIELDS, FakeEngine, fake_lm, hf_item
from typer.testing import CliRunner

from summarizer import SummarizerError, backfill, engine
from summarizer import digest as pipeline
from summarizer.cli import app
from summarizer.papers import Paper
from summarizer.prompt import format_output
from summarizer.selection import Selection, describe, keywords, select
from summarizer.styles import STYLES

DAYS = {  # day -> HF answer: papers, [] (a weekend) or an HTTP status
    "2025-10-20": [hf_item("2510.00001", "Diffusion Agents", 9), hf_item("2510.00002", "A Survey of Surveys", 3)],
    "2025-10-21": [hf_item("2510.00003", "Robots", 5)],
    "2025-10-22": 500,
    "2025-10-23": [],
}


@pytest.fixture
def api(serve, monkeypatch):
    from huggingface_hub import constants

    def answer(path, headers):
        day = next((d for d in DAYS if f"date={d}" in path), None)
        if not path.startswith("/api/daily_papers") or day is None:
            return json_response({"error": "not found"}, status=404)
        if isinstance(DAYS[day], int):
            return json_response({"error": "boom"}, status=DAYS[day])
        return json_response(DAYS[day] if "p=0" in path else [])

    server = serve(answer)
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr("time.sleep", lambda s: None)  # the 500's retries
    return server


def good(style="en-bullets"):
    return FakeEngine(lambda p: format_output(STYLES[style], FIELDS[style]))


def run(fake, monkeypatch, home, **kw):
    monkeypatch.setattr(pipeline.engine, "generate", fake)
    monkeypatch.setattr(pipeline, "duplicates", lambda summaries: {})
    return backfill.backfill("2025-10-20", "2025-10-23", lm=kw.pop("lm", fake_lm()), home=home, arxiv=False, **kw)


def test_each_day_in_turn_a_failed_day_never_stops_the_others(api, home, monkeypatch):
    outcomes = run(good(), monkeypatch, home)
    assert [(o.date, o.status) for o in outcomes] == [
        ("2025-10-20", "digested"), ("2025-10-21", "digested"), ("2025-10-22", "failed"), ("2025-10-23", "empty")]
    assert "HTTP 500" in outcomes[2].detail and "\n" not in outcomes[2].detail
    for day in ("2025-10-20", "2025-10-21"):
        assert (home / "digests" / "en-bullets" / f"{day}.md").exists()
    table = backfill.table(outcomes)
    assert "2025-10-22  failed" in table and "2 digested, 0 done, 1 empty, 1 failed of 4 days." in table


def test_a_rerun_generates_nothing_for_finished_days(api, home, monkeypatch):
    run(good(), monkeypatch, home)
    again = good()
    outcomes = run(again, monkeypatch, home)
    assert [o.status for o in outcomes] == ["done", "done", "failed", "empty"]
    assert again.calls == []


def test_a_failed_summary_is_done_too_but_a_missing_record_is_not(api, home, monkeypatch):
    run(FakeEngine(lambda p: "nonsense"), monkeypatch, home, retries=0)  # every summary fails validation
    again = good()
    assert [o.status for o in run(again, monkeypatch, home)][:2] == ["done", "done"]
    side = home / "digests" / "en-bullets" / "2025-10-20.json"
    doc = json.loads(side.read_text(encoding="utf-8"))
    del doc["records"]["2510.00002"]  # a run killed before this paper (the failed one is retried with it)
    side.write_text(json.dumps(doc), encoding="utf-8")
    outcomes = run(again, monkeypatch, home)
    assert outcomes[0].status == "digested" and outcomes[0].result.generated == 2 and outcomes[1].status == "done"


def test_another_model_or_force_redoes_the_days(api, home, monkeypatch):
    run(good(), monkeypatch, home)
    other = fake_lm()
    other.provenance["sha256"] = "1" * 8
    assert [o.status for o in run(good(), monkeypatch, home, lm=other)][:2] == ["digested", "digested"]
    assert [o.status for o in run(good(), monkeypatch, home, lm=other, force=True)][:2] == ["digested", "digested"]


def test_the_model_is_loaded_once_and_after_the_range_is_checked(api, home, monkeypatch):
    loads = []
    monkeypatch.setattr(engine, "load_model", lambda model, **kw: loads.append(model) or fake_lm())
    monkeypatch.setattr(pipeline.engine, "generate", good())
    monkeypatch.setattr(pipeline, "duplicates", lambda summaries: {})
    with pytest.raises(SummarizerError, match="ends before it starts"):
        backfill.backfill("2025-10-23", "2025-10-20", home=home)
    assert loads == []
    backfill.backfill("2025-10-20", "2025-10-23", "en-bullets", "some-model", home=home, arxiv=False)
    assert loads == ["some-model"]


@pytest.mark.parametrize("first,last,message", [
    ("2025-10-32", "2025-11-01", "not a real calendar day"), ("2025-10-20", "20251021", "YYYY-MM-DD"),
    ("2020-01-01", "2025-01-01", "more than 366 days")])
def test_bad_ranges_are_one_line_errors(home, first, last, message):
    with pytest.raises(SummarizerError, match=message):
        backfill.days(first, last)


def test_a_feed_template_gives_each_day_its_file(home, tmp_path, monkeypatch):
    from test_papers import html_item, rss

    for day in ("2025-10-20", "2025-10-21"):
        pid = f"2510.{day[-2:]}001"
        item = html_item(pid, f"Paper {pid}", "Ann", "3", ABSTRACT, "Mon, 20 Oct 2025 10:00:00 GMT", "")
        (tmp_path / f"{day}.xml").write_bytes(rss(item))
    monkeypatch.setattr(pipeline.engine, "generate", good())
    monkeypatch.setattr(pipeline, "duplicates", lambda summaries: {})
    outcomes = backfill.backfill("2025-10-20", "2025-10-22", source=str(tmp_path / "{date}.xml"), lm=fake_lm(),
                                 home=home, arxiv=False)
    assert [o.status for o in outcomes] == ["digested", "digested", "failed"]
    assert "2025-10-22.xml" in outcomes[2].detail


def test_cli_range_prints_the_table_and_exits_1_when_a_day_failed(api, home, monkeypatch):
    monkeypatch.setattr(engine, "load_model", lambda model, **kw: fake_lm())
    monkeypatch.setattr(pipeline.engine, "generate", good())
    monkeypatch.setattr(pipeline, "duplicates", lambda summaries: {})
    args = ["digest", "--from", "2025-10-20", "--to", "2025-10-23", "--no-arxiv"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1, res.output
    assert "2025-10-23  empty" in res.output and "2025-10-22  failed" in res.output
    res = CliRunner().invoke(app, [*args[:3], "--to", "2025-10-21", "--no-arxiv"])
    assert res.exit_code == 0 and res.output.count("already done") == 4  # progress line and table row per day


@pytest.mark.parametrize("args,message", [
    (["--date", "2025-10-20", "--from", "2025-10-20"], "not --date and --from"), (["--to", "2025-10-20"], "--to needs --from"),
    (["--top", "0"], "--top must be 1 or more"), (["--top", "2", "--limit", "3"], "same option")])
def test_cli_rejects_conflicting_options_before_any_io(home, args, message):
    res = CliRunner().invoke(app, ["digest", *args])
    assert res.exit_code == 2 and message in res.output and not home.exists()


# ---- selection

def paper(pid, title, upvotes, abstract=ABSTRACT):
    return Paper(id=pid, title=title, abstract=abstract, date="2025-10-20", upvotes=upvotes)


PAPERS = [paper("1", "Diffusion for Video", 30), paper("2", "An Agent Survey", 20),
          paper("3", "Robots", 10, "We study AGENTS that fold towels."), paper("4", "Tables", 1)]


@pytest.mark.parametrize("sel,limit,kept,left", [
    (Selection(), None, ["1", "2", "3", "4"], {}),
    (Selection(top=2), None, ["1", "2"], {"top": 2}),
    (Selection(min_upvotes=10), None, ["1", "2", "3"], {"min_upvotes": 1}),
    (Selection(include=("diffusion", "agent")), None, ["1", "2", "3"], {"include": 1}),
    (Selection(include=("diffusion", "agent"), exclude=("survey",)), None, ["1", "3"], {"include": 1, "exclude": 1}),
    (Selection(exclude=("survey",), top=5), 1, ["1"], {"exclude": 1, "top": 2}),
])
def test_selection_keeps_order_and_counts_every_paper_left_out(sel, limit, kept, left):
    chosen, left_out = select(PAPERS, sel, limit)
    assert [p.id for p in chosen] == kept and left_out == left
    assert len(chosen) + sum(left_out.values()) == len(PAPERS)


def test_keywords_and_describe():
    assert keywords(" Diffusion, ,agent ") == ("diffusion", "agent") and keywords(None) == ()
    assert describe({"top": 2, "exclude": 1}) == "3 left out (exclude 1, top 2)" and describe({}) == ""


def test_the_selection_is_recorded_in_the_sidecar_and_the_summary(api, home, monkeypatch):
    monkeypatch.setattr(engine, "load_model", lambda model, **kw: fake_lm())
    monkeypatch.setattr(pipeline.engine, "generate", good())
    monkeypatch.setattr(pipeline, "duplicates", lambda summaries: {})
    res = CliRunner().invoke(app, ["digest", "--date", "2025-10-20", "--exclude", "survey", "--no-arxiv"])
    assert res.exit_code == 0, res.output
    assert "1 left out (exclude 1)" in res.output
    doc = json.loads((home / "digests" / "en-bullets" / "2025-10-20.json").read_text(encoding="utf-8"))
    assert [p["id"] for p in doc["papers"]] == ["2510.00001"]
    assert doc["selection"] == {"top": None, "min_upvotes": 0, "include": [], "exclude": ["survey"], "limit": None,
                                "left_out": {"exclude": 1}}
