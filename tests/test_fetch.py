"""collect() against loopback servers: paging, retries, faults, feeds, the arXiv fallback, archive reuse, repeats."""

from __future__ import annotations

import json
import logging
import time
import urllib.parse

import pytest
from conftest import json_response
from huggingface_hub import constants
from test_papers import ARXIV_ATOM, HTML_FEED, rss

from summarizer import SummarizerError, archive
from summarizer.fetch import FetchConfig, collect

DAY = "2025-10-26"
FAST = FetchConfig(page_size=2, max_retries=2, base_wait=0, max_wait=0, timeout=5, arxiv_delay=0)


def item(pid: str, upvotes: int) -> dict:
    return {"paper": {"id": pid, "title": f"Paper {pid}", "summary": f"About\n{pid}.", "upvotes": upvotes,
                      "authors": [{"name": "Ann Author", "hidden": False}]}, "numComments": 1}


ITEMS = [item("2510.00001", 5), item("2510.00002", 50), item("2510.00003", 7), item("2510.00004", 0),
         item("2510.00005", 7)]


def query(path: str) -> dict:
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlparse(path).query).items()}


def api_calls(server) -> list[dict]:
    return [query(p) for p in server.requests if p.startswith("/api/daily_papers")]


def pages(items: list[dict]):
    """A handler serving `items` the way the API pages them, and 404 for anything else."""
    def handler(path, headers):
        if not path.startswith("/api/daily_papers"):
            return json_response({"error": "not found"}, 404)
        q = query(path)
        limit, p = int(q["limit"]), int(q["p"])
        return json_response(items[p * limit:(p + 1) * limit] if q["date"] == DAY else [])
    return handler


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """Record the waits http_backoff asks for instead of sleeping."""
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    return waits


@pytest.fixture
def online(monkeypatch, serve, home, sleeps):
    """Turn huggingface_hub's offline switch off (the suite runs with HF_HUB_OFFLINE=1) and aim it at a server."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    def start(handler):
        server = serve(handler)
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        return server
    return start


def test_pages_until_a_short_page_and_sorts_by_upvotes(online, home):
    server = online(pages(ITEMS))
    papers = collect(DAY, config=FAST)
    assert [c["p"] for c in api_calls(server)] == ["0", "1", "2"]
    assert {c["limit"] for c in api_calls(server)} == {"2"}
    # ties keep the API's order
    assert [(p.id, p.upvotes) for p in papers] == [
        ("2510.00002", 50), ("2510.00003", 7), ("2510.00005", 7), ("2510.00001", 5), ("2510.00004", 0)]
    assert papers[0].abstract == "About 2510.00002." and all(p.date == DAY for p in papers)
    record = archive.load_record(DAY)
    assert record["source"] == "hf" and len(record["papers"]) == 5
    raw = home / "archive" / DAY / record["raw"]
    assert sorted(f.name for f in raw.iterdir()) == ["hf-p0.json", "hf-p1.json", "hf-p2.json"]
    assert json.loads((raw / "hf-p2.json").read_bytes()) == [ITEMS[4]]


def test_an_exactly_full_last_page_is_followed_by_an_empty_one(online):
    server = online(pages(ITEMS[:4]))
    assert len(collect(DAY, config=FAST)) == 4
    assert [c["p"] for c in api_calls(server)] == ["0", "1", "2"]


def test_a_server_ignoring_p_does_not_loop_forever(online):
    server = online(lambda path, headers: json_response(ITEMS[:2]))
    assert len(collect(DAY, config=FAST)) == 2
    assert len(api_calls(server)) == 2


def test_429_with_retry_after_is_honoured_then_succeeds(online, sleeps):
    answers = [json_response({"error": "slow down"}, 429, {"Retry-After": "2"})]

    def handler(path, headers):
        return answers.pop() if answers else pages(ITEMS[:1])(path, headers)

    server = online(handler)
    assert [p.id for p in collect(DAY, config=FAST)] == ["2510.00001"]
    assert len(api_calls(server)) == 2
    assert sleeps == [3.0]  # Retry-After + huggingface_hub's 1 s margin, not the 0 s base wait


def test_5xx_exhausted_is_one_line_and_leaves_the_archive(online, home, sleeps):
    archive.save_day(DAY, "hf", [], {"hf-p0.json": b"[]"}, fetched_at="2025-10-26T01:00:00Z")
    before = (home / "archive" / DAY / "papers.json").read_bytes()
    server = online(lambda path, headers: json_response({"error": "boom"}, 503))
    with pytest.raises(SummarizerError) as info:
        collect(DAY, refresh=True, config=FAST)
    message = str(info.value)
    assert "HTTP 503 after 2 retries" in message and "left untouched" in message and "\n" not in message
    assert len(api_calls(server)) == 3 and len(sleeps) == 2
    assert (home / "archive" / DAY / "papers.json").read_bytes() == before
    assert len(list((home / "archive" / DAY).glob("raw-*"))) == 1


def test_5xx_with_nothing_archived_creates_nothing(online, home):
    online(lambda path, headers: json_response({"error": "boom"}, 500))
    with pytest.raises(SummarizerError, match="HTTP 500"):
        collect(DAY, config=FAST)
    assert not (home / "archive" / DAY).exists()


@pytest.mark.parametrize(
    ("response", "message"),
    [
        ((200, {"Content-Type": "application/json"}, b'[{"paper": '), "malformed JSON"),
        ((200, {"Content-Type": "text/html"}, b"<!doctype html><html><body>Login</body></html>"), "an HTML page"),
        (json_response({"error": "Invalid date"}), "not a JSON array"),
    ],
)
def test_garbage_answers_are_clear_errors(online, home, response, message):
    online(lambda path, headers: response)
    with pytest.raises(SummarizerError, match=message) as info:
        collect(DAY, config=FAST)
    assert "\n" not in str(info.value)
    assert not (home / "archive" / DAY).exists()


def test_an_empty_day_is_not_an_error_and_is_asked_again_next_time(online, home):
    server = online(pages([]))
    assert collect("2025-10-25", config=FAST) == []
    assert archive.load_record("2025-10-25")["papers"] == []
    assert collect("2025-10-25", config=FAST) == []
    assert len(api_calls(server)) == 2  # an archived empty day may have filled since


@pytest.mark.parametrize("bad", ["2025-13-01", "../../etc", "2025-10-26/../x"])
def test_invalid_dates_are_rejected_before_any_io(online, home, bad):
    server = online(pages(ITEMS))
    with pytest.raises(SummarizerError, match="date"):
        collect(bad, config=FAST)
    assert server.requests == [] and not home.exists()


def test_an_archived_day_is_reused_without_the_network(online, home):
    server = online(pages(ITEMS))
    first = collect(DAY, config=FAST)
    server.stop()
    n = len(server.requests)
    assert collect(DAY, config=FAST) == first
    assert len(server.requests) == n


def test_refresh_fetches_again_and_merges_by_id(online):
    server = online(pages(ITEMS[:1]))
    collect(DAY, config=FAST)
    server.handler = pages([ITEMS[1], {"paper": dict(ITEMS[0]["paper"], upvotes=99, title="Renamed")}])
    papers = collect(DAY, refresh=True, config=FAST)
    assert [(p.id, p.title, p.upvotes) for p in papers] == [("2510.00001", "Renamed", 99), ("2510.00002", ITEMS[1]["paper"]["title"], 50)]
    assert [p.id for p in archive.load_papers(DAY)] == ["2510.00002", "2510.00001"]


def test_a_refresh_answering_nothing_loses_no_archived_paper(online, home, caplog):
    six = [item(f"2510.0001{i}", i) for i in range(6)]
    server = online(pages(six))
    collect(DAY, config=FAST)
    before = archive.load_record(DAY)
    server.handler = pages([])
    with caplog.at_level(logging.WARNING, logger="summarizer.fetch"):
        papers = collect(DAY, refresh=True, config=FAST)
    assert sorted(p.id for p in papers) == sorted(i["paper"]["id"] for i in six)
    after = archive.load_record(DAY)
    assert after["papers"] == before["papers"] and after["fetched_at"] >= before["fetched_at"]
    assert "the new answer for 2025-10-26 lists 0 papers where the archive has 6; kept the 6 archived papers" in caplog.text
    # the answers the kept papers came from are kept beside the new (empty) one
    assert after["earlier_raw"] == [before["raw"]]
    assert (home / "archive" / DAY / before["raw"] / "hf-p0.json").exists()
    assert json.loads((home / "archive" / DAY / after["raw"] / "hf-p0.json").read_bytes()) == []


def test_the_same_id_twice_in_one_answer_is_one_paper(online):
    twice = [item("2510.00001", 5), item("2510.00002", 3), {"paper": dict(item("2510.00001", 5)["paper"], id="2510.00001v2")}]
    online(pages(twice))
    papers = collect(DAY, config=FetchConfig(page_size=10, base_wait=0, max_wait=0, arxiv_delay=0))
    assert [p.id for p in papers] == ["2510.00001", "2510.00002"]
    assert [p["id"] for p in archive.load_record(DAY)["papers"]] == ["2510.00001", "2510.00002"]


def test_a_lone_surrogate_keeps_the_day(online, home):
    bad = {"paper": dict(item("2510.00001", 5)["paper"], title="Broken \ud800 title", summary="Text \udfff here.")}
    online(pages([bad, item("2510.00002", 3)]))
    papers = collect(DAY, config=FAST)
    assert [(p.id, p.title, p.abstract) for p in papers][0] == ("2510.00001", "Broken title", "Text here.")
    assert len(archive.load_papers(DAY)) == 2


@pytest.mark.parametrize("future", ["2099-01-01", "9999-12-31"])
def test_a_future_day_is_refused_before_any_io(online, home, future):
    server = online(pages(ITEMS))
    with pytest.raises(SummarizerError, match=f"The date {future} is in the future"):
        collect(future, config=FAST)
    assert server.requests == [] and not home.exists()


def test_a_day_held_by_another_run_waits_then_fails_clearly(online, home, monkeypatch):
    from filelock import FileLock

    server = online(pages(ITEMS))
    monkeypatch.setenv("SUMMARIZER_LOCK_TIMEOUT", "0.2")
    (home / "locks").mkdir(parents=True)
    with FileLock(home / "locks" / f"{DAY}.lock"):  # another run, as far as this process's own lock knows
        with pytest.raises(SummarizerError, match=f"Another summarizer run is still writing the day {DAY} after 0.2 s"):
            collect(DAY, config=FAST)
    assert server.requests == [] and not (home / "archive" / DAY).exists()
    assert len(collect(DAY, config=FAST)) == 5  # once it is free


def test_server_down_serves_the_archive_or_says_so(online, home, caplog):
    server = online(pages([]))
    collect(DAY, config=FAST)  # an archived empty day is asked again, so the network is tried
    server.stop()
    with caplog.at_level(logging.WARNING, logger="summarizer.fetch"):
        assert collect(DAY, config=FAST) == []
    assert "using the archive of 2025-10-26" in caplog.text
    with pytest.raises(SummarizerError, match="could not be reached") as info:
        collect("2025-10-27", config=FAST)
    assert "\n" not in str(info.value)


def test_offline_mode_serves_the_archive_and_never_connects(home, serve, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    server = serve(pages(ITEMS))
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    with pytest.raises(SummarizerError, match="HF_HUB_OFFLINE=1") as info:
        collect(DAY, config=FAST)
    assert "\n" not in str(info.value) and not (home / "archive" / DAY).exists()
    archive.save_day(DAY, "hf", [], {})
    assert collect(DAY, config=FAST) == []
    assert server.requests == []


def test_repeats_are_marked_from_the_dedup_index(online):
    online(pages(ITEMS))
    archive.mark_digested("2025-10-24", ["2510.00003"])
    archive.mark_digested(DAY, ["2510.00001"])  # the same day is not a repeat of itself
    papers = {p.id: p.repeat_of for p in collect(DAY, config=FAST)}
    assert papers == {"2510.00002": None, "2510.00003": "2025-10-24", "2510.00005": None, "2510.00001": None,
                      "2510.00004": None}
    assert all(p["repeat_of"] is None for p in archive.load_record(DAY)["papers"])


def test_feed_from_a_url_lists_every_entry_under_the_requested_day(online, home):
    server = online(lambda path, headers: (200, {"Content-Type": "application/rss+xml"}, HTML_FEED))
    papers = collect(DAY, f"{server.url}/feed.xml", config=FAST)
    assert [(p.id, p.upvotes, p.date) for p in papers] == [("2510.00002", 1204, DAY), ("2510.00001", 12, DAY)]
    assert archive.load_record(DAY)["source"] == f"{server.url}/feed.xml"


def test_feed_from_a_file_and_its_reuse(home, tmp_path):
    feed = tmp_path / "daily.xml"
    feed.write_bytes(HTML_FEED)
    assert [p.id for p in collect(DAY, str(feed), arxiv=False)] == ["2510.00002", "2510.00001"]
    feed.write_bytes(b"changed")
    assert len(collect(DAY, str(feed), arxiv=False)) == 2  # served from the archive
    with pytest.raises(SummarizerError, match="neither 'hf'"):
        collect(DAY, str(tmp_path / "missing.xml"))


def test_broken_feed_file_is_one_line_and_archive_untouched(home, tmp_path):
    archive.save_day(DAY, "hf", [], {})
    before = (home / "archive" / DAY / "papers.json").read_bytes()
    feed = tmp_path / "broken.xml"
    feed.write_bytes(b"<rss><channel><item><title>half")
    with pytest.raises(SummarizerError, match="could not be read as RSS/Atom") as info:
        collect(DAY, str(feed))
    assert "\n" not in str(info.value)
    assert (home / "archive" / DAY / "papers.json").read_bytes() == before


def no_abstract_feed() -> bytes:
    return rss('<item><title>Bare</title><link>https://arxiv.org/abs/2510.00004v1</link></item>',
               '<item><title>Unknown</title><link>https://arxiv.org/abs/2510.09999</link></item>')


def test_arxiv_fallback_fills_missing_abstracts(online, monkeypatch, tmp_path, home):
    server = online(lambda path, headers: (200, {"Content-Type": "application/atom+xml"}, ARXIV_ATOM))
    seen_agents = []
    inner = server.handler
    server.handler = lambda path, headers: (seen_agents.append(headers.get("User-Agent")), inner(path, headers))[1]
    monkeypatch.setenv("SUMMARIZER_ARXIV_URL", f"{server.url}/api/query")
    feed = tmp_path / "bare.xml"
    feed.write_bytes(no_abstract_feed())
    papers = {p.id: p for p in collect(DAY, str(feed), config=FetchConfig(arxiv_delay=0, base_wait=0))}
    assert papers["2510.00004"].abstract == "We fold planes. They fly far."
    assert papers["2510.00004"].authors == ("Gus Hale", "Ivy Jun")
    assert papers["2510.00004"].title == "Bare"
    assert papers["2510.09999"].abstract == ""
    assert [query(p) for p in server.requests] == [{"id_list": "2510.00004,2510.09999", "max_results": "2"}]
    assert seen_agents[0].startswith("summarizer/")
    record = archive.load_record(DAY)
    assert record["papers"][0]["abstract"] == "We fold planes. They fly far."
    assert (home / "archive" / DAY / record["raw"] / "arxiv-0.xml").read_bytes() == ARXIV_ATOM


def test_arxiv_requests_are_one_at_a_time_and_spaced(online, monkeypatch, tmp_path, sleeps):
    server = online(lambda path, headers: (200, {}, ARXIV_ATOM))
    monkeypatch.setenv("SUMMARIZER_ARXIV_URL", f"{server.url}/api/query")
    feed = tmp_path / "bare.xml"
    feed.write_bytes(no_abstract_feed())
    collect(DAY, str(feed), config=FetchConfig(arxiv_batch=1, arxiv_delay=3.0, base_wait=0))
    assert [query(p)["id_list"] for p in server.requests] == ["2510.00004", "2510.09999"]
    assert sleeps == [3.0]


def test_arxiv_fallback_is_optional_and_its_failure_is_not_fatal(online, monkeypatch, tmp_path, caplog):
    server = online(lambda path, headers: json_response({"error": "down"}, 503))
    monkeypatch.setenv("SUMMARIZER_ARXIV_URL", f"{server.url}/api/query")
    feed = tmp_path / "bare.xml"
    feed.write_bytes(no_abstract_feed())
    assert all(p.abstract == "" for p in collect(DAY, str(feed), arxiv=False, config=FAST))
    assert server.requests == []
    with caplog.at_level(logging.WARNING, logger="summarizer.fetch"):
        papers = collect(DAY, str(feed), refresh=True, config=FAST)
    assert [p.abstract for p in papers] == ["", ""]
    assert "arXiv fallback skipped for 2 papers" in caplog.text
