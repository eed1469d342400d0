"""The archive: date validation, atomic writes surviving simulated crashes, day records and the dedup index."""

from __future__ import annotations

import json
import os

import pytest

from summarizer import SummarizerError, archive
from summarizer.papers import Paper


def paper(pid: str, upvotes: int = 0, **kw) -> Paper:
    return Paper(id=pid, title=f"Title {pid}", abstract=f"Abstract of {pid}.", date="2025-10-26", upvotes=upvotes, **kw)


@pytest.mark.parametrize("bad", ["2025-13-01", "../../etc", "2025-02-30", "20251026", "2025-1-01", "", " 2025-10-26"])
def test_invalid_dates_are_rejected(bad, home):
    with pytest.raises(SummarizerError, match="date"):
        archive.validate_date(bad)
    with pytest.raises(SummarizerError):
        archive.load_papers(bad)
    assert not home.exists()


def test_valid_date_and_default_home(monkeypatch):
    assert archive.validate_date("2024-02-29") == "2024-02-29"
    monkeypatch.delenv("SUMMARIZER_HOME", raising=False)
    assert str(archive.home()) == "data"


def test_write_atomic_replaces_whole_files(tmp_path):
    target = tmp_path / "a" / "b.txt"
    archive.write_atomic(target, "first")
    archive.write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert os.listdir(target.parent) == ["b.txt"]


@pytest.mark.parametrize("crash_in", ["fsync", "replace"])
def test_crash_mid_write_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch, crash_in):
    target = tmp_path / "papers.json"
    archive.write_atomic(target, '{"old": true}')

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(archive.os, crash_in, crash)
    with pytest.raises(KeyboardInterrupt):
        archive.write_atomic(target, '{"new": true, "long": "' + "x" * 100_000 + '"}')
    assert json.loads(target.read_text()) == {"old": True}
    assert os.listdir(tmp_path) == ["papers.json"]


def test_save_and_load_a_day(home):
    assert archive.load_papers("2025-10-26") is None
    papers = [paper("2510.00001", 3, repeat_of="2025-10-20"), paper("2510.00002", 9, authors=("A B",))]
    out = archive.save_day("2025-10-26", "hf", papers, {"hf-p0.json": b"[1]"}, fetched_at="2025-10-26T08:00:00Z")
    assert out == home / "archive" / "2025-10-26" / "papers.json"
    record = archive.load_record("2025-10-26")
    assert (record["date"], record["source"], record["fetched_at"]) == ("2025-10-26", "hf", "2025-10-26T08:00:00Z")
    assert (out.parent / record["raw"] / "hf-p0.json").read_bytes() == b"[1]"
    # repeat_of is derived from the dedup index when loading, never stored
    assert archive.load_papers("2025-10-26") == [papers[0].replace(repeat_of=None), papers[1]]


def test_a_new_save_replaces_the_raw_dir_only_after_commit(home):
    archive.save_day("2025-10-26", "hf", [paper("2510.00001")], {"hf-p0.json": b"old"})
    archive.save_day("2025-10-26", "hf", [paper("2510.00002")], {"hf-p0.json": b"new"})
    day = home / "archive" / "2025-10-26"
    raws = [p for p in day.iterdir() if p.name.startswith("raw-")]
    assert len(raws) == 1 and (raws[0] / "hf-p0.json").read_bytes() == b"new"
    assert [p.id for p in archive.load_papers("2025-10-26")] == ["2510.00002"]


def test_crash_while_saving_keeps_the_previous_day(home, monkeypatch):
    archive.save_day("2025-10-26", "hf", [paper("2510.00001")], {"hf-p0.json": b"old"})
    before = archive.load_record("2025-10-26")
    real = archive.write_atomic

    def crash_on_commit(path, data):
        if path.name == "papers.json":
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(archive, "write_atomic", crash_on_commit)
    with pytest.raises(OSError):
        archive.save_day("2025-10-26", "hf", [paper("2510.00009")], {"hf-p0.json": b"new"})
    assert archive.load_record("2025-10-26") == before
    day = home / "archive" / "2025-10-26"
    assert (day / before["raw"] / "hf-p0.json").read_bytes() == b"old"


def test_corrupt_archive_is_a_clear_error(home):
    day = home / "archive" / "2025-10-26"
    day.mkdir(parents=True)
    (day / "papers.json").write_text('{"papers": [')
    with pytest.raises(SummarizerError, match="--refresh") as info:
        archive.load_papers("2025-10-26")
    assert "\n" not in str(info.value)
    (day / "papers.json").write_text('{"papers": 3}')
    with pytest.raises(SummarizerError, match="unexpected shape"):
        archive.load_papers("2025-10-26")


def test_dedup_index_keeps_the_earliest_day(home):
    assert archive.digested_before("2025-10-26") == {}
    archive.mark_digested("2025-10-24", ["2510.00001", "2510.00002"])
    archive.mark_digested("2025-10-22", ["2510.00002"])
    archive.mark_digested("2025-10-25", ["2510.00001", "2510.00003"])
    assert archive.digested_before("2025-10-26") == {
        "2510.00001": "2025-10-24", "2510.00002": "2025-10-22", "2510.00003": "2025-10-25"}
    assert archive.digested_before("2025-10-24") == {"2510.00002": "2025-10-22"}
    assert archive.digested_before("2025-10-22") == {}
    with pytest.raises(SummarizerError):
        archive.mark_digested("../x", ["2510.00001"])
