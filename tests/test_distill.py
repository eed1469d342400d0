"""Distillation data: daily-arXiv-ai-enhanced JSONL rows become zh-tldr records, and the split by day."""

from __future__ import annotations

import json

import pytest
from test_dataset import ABSTRACT
from typer.testing import CliRunner

from summarizer import SummarizerError
from summarizer import dataset as ds
from summarizer.cli import app
from summarizer.dataset import build_dataset, build_examples, held_out_days, load, parse_enhanced, split_rows
from summarizer.prompt import format_output
from summarizer.styles import STYLES

# Written for these tests (numbers only from ABSTRACT): the shape of a daily-arXiv-ai-enhanced "AI" summary.
AI = {
    "tldr": "本文提出Lumen，一种面向长文档的稀疏注意力内核，跳过90%的键块后速度提升3倍。",
    "motivation": "长文档的注意力计算代价很高，限制了模型处理长文本。",
    "method": "Lumen按块计算注意力：1) 估计每个键块的重要性；2) 跳过不重要的键块。",
    "result": "在2个基准上速度提升3倍，同时保持精度。",
    "conclusion": "稀疏注意力能在不损失精度的情况下加快长文档推理。",
}
# The abstract as arXiv serves it: hard line breaks every few words.
WRAPPED = ABSTRACT.replace("kernel for ", "kernel for\n").replace("and runs ", "and\nruns ")


def row(pid: str, **changes) -> dict:
    base = {"id": pid, "categories": ["cs.CL"], "pdf": f"https://arxiv.org/pdf/{pid}",
            "abs": f"https://arxiv.org/abs/{pid}", "authors": ["Ada Ray", "Bo Chen"],
            "title": "Lumen: Sparse Attention\n  for Long Documents", "comment": "8 pages", "summary": WRAPPED,
            "AI": dict(AI)}
    return base | changes


def write_jsonl(path, rows: list) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")


@pytest.fixture
def enhanced(tmp_path):
    """Two days of JSONL (both file name shapes) with one row for every kind of skip."""
    src = tmp_path / "enhanced"
    src.mkdir()
    write_jsonl(src / "2026-01-05_AI_enhanced_Chinese.jsonl", [
        row("2601.00001"),
        row("2601.00002", AI={k: v for k, v in AI.items() if k not in ("result", "conclusion")}),
        row("2601.00003", summary="   "),
        row("2601.00004", AI=AI | {"result": "在5个基准上速度提升3倍。"}),  # 5 is not in the abstract
        "not json at all",
    ])
    write_jsonl(src / "dw-2026-01-06.jsonl", [
        row("2601.00005v2"), row("2601.00001"),  # the first paper again: a duplicate
        row("2601.00006", date="2026-01-04"),  # a row's own date wins over the file's
    ])
    return src


def test_rows_become_zh_tldr_records_with_their_own_abstract(enhanced, home, monkeypatch):
    def no_network(papers):
        raise AssertionError(f"asked arXiv for {[p.id for p in papers]}")

    monkeypatch.setattr(ds, "arxiv_abstracts", no_network)  # each row carries its abstract
    rows, report = build_examples([enhanced])
    assert [(r["id"], r["date"]) for r in rows] == [
        ("2601.00001", "2026-01-05"), ("2601.00005", "2026-01-06"), ("2601.00006", "2026-01-04")]
    first = rows[0]
    assert first["style"] == "zh-tldr" and first["abstract"] == ABSTRACT  # hard line breaks collapsed
    assert first["title"] == "Lumen: Sparse Attention for Long Documents"
    assert first["completion"] == format_output(STYLES["zh-tldr"], AI) and json.loads(first["fields"]) == AI
    assert first["completion"].startswith("TLDR: 本文提出Lumen") and "\nCONCLUSION: " in first["completion"]
    assert "<abstract>\n{abstract}\n</abstract>" in first["user"] and "Lumen: Sparse Attention" in first["user"]
    reasons = {paper: reason for _, paper, reason in report.skipped}
    assert reasons["2601.00002"] == "the AI summary lacks result, conclusion"
    assert reasons["2601.00003"] == "the abstract (summary) is empty"
    assert reasons["2601.00004"].startswith("reference fails validation: numbers: ")
    assert reasons["2601.00001"].startswith("duplicate of ") and reasons["2601.00001"].endswith(
        "2026-01-05_AI_enhanced_Chinese.jsonl#1")
    assert reasons[""].startswith("not a daily-arXiv-ai-enhanced row")
    assert (report.parsed, report.joined, len(report.skipped)) == (8, 3, 5)
    assert {r["writer"] for r in rows} == {ds.ENHANCED_WRITER} and {r["attempt"] for r in rows} == {""}


def test_invalid_rows_are_kept_only_when_asked(enhanced, home):
    kept, report = build_examples([enhanced], check=False)
    assert "2601.00004" in [r["id"] for r in kept] and report.joined == 4
    assert not any(r.startswith("reference fails") for _, _, r in report.skipped)
    out = enhanced.parent / "ds"
    args = ["dataset", str(enhanced), "--out", str(out), "--validation-share", "0"]
    strict = CliRunner().invoke(app, args)
    assert strict.exit_code == 0 and "2601.00004" not in load(out)["train"]["id"]
    assert "skipped " in strict.output and "2601.00004: reference fails validation: numbers" in strict.output
    result = CliRunner().invoke(app, [*args, "--keep-invalid"])
    assert result.exit_code == 0, result.output
    assert "2601.00004" in load(out)["train"]["id"] and "8 parsed, 4 joined" in result.output


def test_a_row_missing_everything_and_a_jsonl_of_another_kind(tmp_path):
    (entry, paper), = parse_enhanced(json.dumps({"id": "2601.00009", "title": "T", "summary": ""}), "x.jsonl")
    assert entry.skip == "the AI summary lacks tldr, motivation, method, result, conclusion; the abstract (summary) " \
                         "is empty" and paper.id == "2601.00009" and entry.date is None
    other = tmp_path / "train.jsonl"  # e.g. a dataset written by `summarizer dataset`
    write_jsonl(other, [{"prompt": "p", "completion": "c"}])
    rows, report = build_examples([other], arxiv=False)
    assert rows == [] and report.skipped == [
        (str(other), "", f"The JSONL file {other} has no daily-arXiv-ai-enhanced rows (JSON objects with id, title, "
                         "summary and AI).")]


@pytest.mark.parametrize("share, chosen, expected", [
    (0.1, (), ("2026-01-05",)),  # the latest day: 10 % of 3 days, rounded up
    (0.5, (), ("2026-01-04", "2026-01-05")),
    (0.99, (), ("2026-01-04", "2026-01-05")),  # never every day below a share of 1
    (1.0, (), ("2026-01-03", "2026-01-04", "2026-01-05")),
    (0.0, (), ()),
    (0.1, ("2026-01-03",), ("2026-01-03",)),  # chosen days win over the share
])
def test_held_out_days(share, chosen, expected):
    assert held_out_days({"2026-01-03", "2026-01-05", "2026-01-04"}, share, chosen) == expected


def test_one_day_holds_none_out_and_a_day_without_records_is_an_error():
    assert held_out_days({"2026-01-03"}, 0.1) == ()
    with pytest.raises(SummarizerError, match="No record is from the validation day 2026-01-09 "
                                              r"\(the records' days: 2026-01-03\)"):
        held_out_days({"2026-01-03"}, 0.1, ("2026-01-09",))


def test_split_by_day_keeps_every_day_whole():
    rows = [{"id": f"2601.{n:05d}", "date": f"2026-01-0{1 + n % 4}"} for n in range(40)] + [{"id": "x", "date": None}]
    parts, days = split_rows(rows, 0.25, "day")
    assert days == ("2026-01-04",)
    assert {r["date"] for r in parts["validation"]} == {"2026-01-04"} and len(parts["validation"]) == 10
    assert "2026-01-04" not in {r["date"] for r in parts["train"]} and {"id": "x", "date": None} in parts["train"]
    by_id, none = split_rows(rows, 0.25, "id")
    assert none == () and {r["date"] for r in by_id["validation"]} != {"2026-01-04"}  # the hash mixes days
    with pytest.raises(SummarizerError, match="need the split by day"):
        split_rows(rows, 0.1, "id", ("2026-01-04",))
    with pytest.raises(SummarizerError, match="Unknown split 'week'"):
        split_rows(rows, 0.1, "week")


def test_dataset_cli_holds_out_the_days_given(enhanced, home):
    out = enhanced.parent / "ds"
    result = CliRunner().invoke(app, ["dataset", str(enhanced), "--out", str(out), "--validation-days", "2026-01-06"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-2] == (
        "8 parsed, 3 joined (train 2, validation 1; validation days: 2026-01-06), 5 skipped; written by "
        "daily-arXiv-ai-enhanced (a large API model) 3")
    dd = load(out)
    assert dd["validation"]["date"] == ["2026-01-06"] and sorted(dd["train"]["date"]) == ["2026-01-04", "2026-01-05"]
    report = json.loads((out / "report.json").read_text())
    assert (report["split_by"], report["validation_days"]) == ("day", ["2026-01-06"])
    latest = CliRunner().invoke(app, ["dataset", str(enhanced), "--out", str(out), "--split-by", "day"])
    assert "validation days: 2026-01-06)" in latest.output  # the latest of three days
    for args, message in ((["--validation-days", "2026-02-30"], "not a real calendar day"),
                          (["--validation-days", "2026-01-07"], "No record is from the validation day 2026-01-07"),
                          (["--split-by", "id", "--validation-days", "2026-01-06"], "need the split by day")):
        failed = CliRunner().invoke(app, ["dataset", str(enhanced), "--out", str(out), *args])
        assert failed.exit_code == 2 and failed.output.count("\n") == 1 and message in failed.output, failed.output


def test_build_dataset_rejects_a_bad_split_before_reading(tmp_path):
    with pytest.raises(SummarizerError, match="Unknown split"):
        build_dataset([tmp_path / "missing"], tmp_path / "ds", split_by="hash")
