"""Digests read back into examples: every rendered style, the drifted real-world shapes, sidecars, joins, the split."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import constants

from summarizer import SummarizerError, archive
from summarizer.dataset import (
    build_dataset,
    build_examples,
    canonical,
    digest_files,
    load,
    parse_sidecar,
    reference_text,
    split_of,
)
from summarizer.papers import Paper
from summarizer.prompt import build_prompt, format_output, parse_output
from summarizer.readback import parse_markdown
from summarizer.render import Entry, render_digest
from summarizer.styles import SCORE_LABELS, STYLES

DAY = "2024-03-05"
ABSTRACT = ("We present Lumen, a sparse attention kernel for long documents. Lumen skips 90% of the key blocks "
            "and runs 3 times faster on 2 benchmarks while keeping accuracy.")
PAPER = Paper(id="2403.01234", title="Lumen: Sparse Attention for Long Documents", abstract=ABSTRACT, date=DAY,
              authors=("Ada Ray", "Bo Chen"), upvotes=12, thumbnail="https://example.org/t.png")

# One valid field set per style, written for PAPER (numbers only from its abstract).
FIELDS = {
    "en-bullets": {"bullets": ["Lumen is a sparse attention kernel for long documents.",
                               "It skips 90% of the key blocks.", "It runs 3 times faster on 2 benchmarks."]},
    "ko-bullets": {"bullets": ["Lumen은 긴 문서를 위한 희소 어텐션 커널입니다.", "키 블록의 90%를 건너뜁니다.",
                               "두 벤치마크에서 정확도를 유지하며 더 빠르게 동작합니다."]},
    "zh-digest": {
        "work": "本文提出了Lumen，一种面向长文档的稀疏注意力内核。",
        "highlights": ["跳过90%的键块", "在2个基准上速度提升3倍"],
        "keywords": ["Sparse Attention (稀疏注意力)", "Long Documents (长文档)", "Attention Kernel (注意力内核)",
                     "Key Blocks (键块)", "Efficiency (效率)"],
        "scores": {"practicality": {"score": 4, "reason": "可直接用于长文档推理。"},
                   "novelty": {"score": 3, "reason": "稀疏化思路较常见。"},
                   "recommendation": {"score": 4, "reason": "适合关注效率的读者。"}},
    },
    "zh-details": {"background": "长文档的注意力计算代价很高。", "prior_work": "已有方法在速度与精度之间取舍。",
                   "contribution": "提出了稀疏注意力内核Lumen", "challenges": ["计算量大: 跳过大部分键块。"],
                   "implementation": "在2个基准上测试，速度提升3倍。", "summary": "Lumen在保持精度的同时加快了推理。"},
    "zh-notes": {"title_zh": "Lumen：面向长文档的稀疏注意力", "tags": ["稀疏注意力", "长文档"],
                 "goal": "降低长文档注意力的计算量。", "method": ["跳过90%的键块"], "findings": ["速度提升3倍"],
                 "conclusion": "稀疏注意力是加速长文档推理的有效途径。"},
    "zh-tldr": {"tldr": "本文提出Lumen，一种面向长文档的稀疏注意力内核，跳过90%的键块后速度提升3倍。",
                "motivation": "长文档的注意力计算代价很高。", "method": "只计算重要的键块，跳过其余大部分键块。",
                "result": "在2个基准上速度提升3倍，同时保持精度。", "conclusion": "稀疏注意力能在不损失精度的情况下加快长文档推理。"},
    "ko-translate": {"translation": "우리는 긴 문서를 위한 희소 어텐션 커널 Lumen을 제시합니다. Lumen은 키 블록의 90%를 "
                                    "건너뛰고 2개의 벤치마크에서 정확도를 유지하면서 3배 빠르게 동작합니다."},
    "zh-translate": {"translation": "我们提出了Lumen，一种面向长文档的稀疏注意力内核。Lumen跳过90%的键块，"
                                    "在2个基准上运行速度提高3倍，同时保持精度。"},
}


def test_every_style_has_a_fixture():
    assert set(FIELDS) == set(STYLES)


@pytest.mark.parametrize("style", sorted(STYLES))
def test_target_round_trips_through_the_styles_parser(style):
    st = STYLES[style]
    target = format_output(st, FIELDS[style])
    assert parse_output(st, target) == FIELDS[style]
    assert canonical(st, FIELDS[style]) == FIELDS[style]
    for value in FIELDS[style].values():  # the reference keeps the prose, not the markers
        first = value[0] if isinstance(value, list) else value if isinstance(value, str) else None
        if first:
            assert first in reference_text(st, FIELDS[style])


@pytest.mark.parametrize("style", sorted(STYLES))
def test_our_rendered_page_reads_back_exactly(style):
    st = STYLES[style]
    other = PAPER.replace(id="2403.09999", title="Other Paper")
    repeat = PAPER.replace(id="2403.08888", title="Seen Before", repeat_of="2024-03-01")
    md = render_digest(st, DAY, [Entry(PAPER, FIELDS[style]), Entry(other, None, "format: no markers"),
                                 Entry(repeat, None)])
    entries = parse_markdown(md, style if style.endswith("translate") else None, "page.md", f"{DAY}.md")
    assert [e.id for e in entries] == ["2403.01234", "2403.09999", "2403.08888"]
    first = entries[0]
    assert (first.style, first.date, first.skip, first.title) == (style, DAY, None, PAPER.title)
    assert canonical(st, first.fields) == FIELDS[style]
    assert entries[1].skip == "no summary in the digest" and entries[2].skip == "already digested on an earlier day"


MARKUP = "<b>bold</b> & [a](http://evil.example) a_b"


def with_markup(fields: dict) -> dict:
    """Every piece of prose with markup added (the English half of a keyword; a challenge's text after its colon)."""
    def add(value):
        if isinstance(value, str):
            return f"{value} {MARKUP}"
        if isinstance(value, list):
            return [add(v) for v in value]
        return {k: dict(v, reason=add(v["reason"])) for k, v in value.items()}
    out = {k: add(v) for k, v in fields.items() if k != "keywords"}
    if "keywords" in fields:
        out["keywords"] = [f"<b>{k}" for k in fields["keywords"]]
    return out


@pytest.mark.parametrize("style", sorted(STYLES))
def test_escaped_data_reads_back_as_it_was(style):
    st = STYLES[style]
    paper = PAPER.replace(title="Lumen <i>x</i> & [y](http://evil.example) *z* a_b")
    fields = with_markup(FIELDS[style])
    bare = PAPER.replace(id="2403.07777", title="No Abstract", abstract="")
    md = render_digest(st, DAY, [Entry(paper, fields), Entry(bare, None, None, no_abstract=True)])
    assert "<b>" not in md and "<i>" not in md
    entries = parse_markdown(md, style, "page.md", f"{DAY}.md")
    assert entries[0].title == paper.title and canonical(st, entries[0].fields) == fields
    assert (entries[1].id, entries[1].skip) == ("2403.07777", "no abstract, so no summary")


def sidecar(fields: dict, style: str = "en-bullets", problems=()) -> dict:
    failed = PAPER.replace(id="2403.09999", title="Failed")
    return {"version": 1, "date": DAY, "style": style, "provenance": {"model": {"model": "m"}},
            "papers": [PAPER.to_dict(), failed.to_dict()],
            "records": {PAPER.id: {"fields": fields, "raw": "-", "problems": list(problems)},
                        failed.id: {"fields": None, "raw": "oops", "problems": [{"rule": "format", "message": "x"}]}}}


def test_sidecar_joins_exactly_and_wins_over_its_page(tmp_path):
    d = tmp_path / "digests" / "en-bullets"
    d.mkdir(parents=True)
    (d / f"{DAY}.json").write_text(json.dumps(sidecar(FIELDS["en-bullets"])))
    (d / f"{DAY}.md").write_text("unparseable page that must not be read")
    (d / "2024-03-06.md").write_text(render_digest(STYLES["en-bullets"], "2024-03-06", [Entry(PAPER, None, "x")]))
    assert [p.name for p in digest_files([tmp_path])] == ["2024-03-05.json", "2024-03-06.md"]
    pairs = parse_sidecar(sidecar(FIELDS["en-bullets"]), "s.json")
    assert pairs[0][1] == PAPER and pairs[0][0].fields == FIELDS["en-bullets"] and pairs[0][0].skip is None
    assert pairs[1][0].skip == "failed validation in the digest (format)"


def test_a_sidecar_row_says_which_model_wrote_it_on_which_pass(home, tmp_path):
    """Learning from our own digests: each row records its writer (so a model is never trained on a weaker model's
    output without saying so), the pass that wrote it and the prompt version; the report counts rows per writer."""
    doc = sidecar(FIELDS["en-bullets"])
    doc["provenance"] = {"model": {"model": "embedded:x.gguf", "sha256": "ab" * 32, "preset": "smollm2-135m"},
                         "prompt_version": "en-bullets/2"}
    doc["records"][PAPER.id]["attempt"] = 1
    d = tmp_path / "digests" / "en-bullets"
    d.mkdir(parents=True)
    (d / f"{DAY}.json").write_text(json.dumps(doc))
    rows, report = build_examples([tmp_path], arxiv=False)
    assert [(r["writer"], r["attempt"], r["prompt_version"]) for r in rows] == [
        (f"smollm2-135m ({'ab' * 6})", "1", "en-bullets/2")]
    assert report.writers == {f"smollm2-135m ({'ab' * 6})": 1}
    assert report.summary().endswith(f"written by smollm2-135m ({'ab' * 6}) 1")


def test_a_reply_with_a_flaw_a_reader_would_not_keep_is_no_training_row(tmp_path):
    """Learning from our own digests: a valid reply whose scores are the example's its prompt showed teaches the
    model to copy the example, so it is skipped with its reason (kept with check=False, as --keep-invalid)."""
    st = STYLES["zh-digest"]
    shown = parse_output(st, build_prompt(st, PAPER).shots[0][1])["scores"]  # the example's, with its reasons
    ours = FIELDS["zh-digest"]["scores"]
    copied = {k: {**ours[k], "score": shown[k]["score"]} for k in ours}  # our reasons, the example's numbers
    assert copied != ours
    d = tmp_path / "digests" / "zh-digest"
    d.mkdir(parents=True)
    (d / f"{DAY}.json").write_text(json.dumps(sidecar({**FIELDS["zh-digest"], "scores": copied}, "zh-digest")))
    rows, report = build_examples([tmp_path], arxiv=False)
    triple = "/".join(str(shown[k]["score"]) for k in SCORE_LABELS)
    assert rows == [] and report.skipped[-1][2] == (
        f"reference has a flaw a reader would not keep: scores {triple} equal to the example's")
    assert len(build_examples([tmp_path], arxiv=False, check=False)[0]) == 1
    (d / f"{DAY}.json").write_text(json.dumps(sidecar(FIELDS["zh-digest"], "zh-digest")))
    assert len(build_examples([tmp_path], arxiv=False)[0]) == 1


def archive_day(home, papers):
    archive.save_day(DAY, "hf", papers, {}, home)


def test_build_dataset_joins_the_archive_and_reports_every_skip(home, tmp_path):
    lost = PAPER.replace(id="2403.05555", title="Lost Paper")
    archive_day(home, [PAPER, lost.replace(abstract=""), PAPER.replace(id="2403.06666", title="Bad")])
    page = render_digest(STYLES["en-bullets"], DAY, [
        Entry(PAPER, FIELDS["en-bullets"]), Entry(lost, {"bullets": ["One.", "Two.", "Three."]}),
        Entry(PAPER.replace(id="2403.06666", title="Bad"), {"bullets": ["Only 7 things."] * 3}),
    ])
    src = tmp_path / "en-bullets"
    src.mkdir()
    (src / f"{DAY}.md").write_text(page)
    (src / "copy.md").write_text(page.replace("2403.06666", "2403.06667"))  # PAPER again: a duplicate
    report = build_dataset([src], tmp_path / "ds", arxiv=False, validation_share=0.0)
    assert (report.parsed, report.joined, report.splits) == (6, 1, {"train": 1, "validation": 0})
    reasons = sorted(r for _, _, r in report.skipped)
    assert reasons[0].startswith("duplicate of")
    assert sum(r.startswith("no abstract") for r in reasons) == 3  # lost paper twice, 2403.06667 not archived
    assert any(r.startswith("reference fails validation: numbers") for r in reasons)
    dd = load(tmp_path / "ds")
    row = dd["train"][0]
    assert row["id"] == PAPER.id and row["abstract"] == ABSTRACT and row["completion"] == format_output(
        STYLES["en-bullets"], FIELDS["en-bullets"])
    assert "{abstract}" in row["user"] and row["prompt"] == ""  # no tokenizer given
    assert json.loads((tmp_path / "ds" / "train.jsonl").read_text().splitlines()[0])["id"] == PAPER.id
    assert json.loads((tmp_path / "ds" / "report.json").read_text())["joined"] == 1


def test_title_only_pages_join_by_title_and_arxiv_fills_missing_abstracts(home, tmp_path, serve, monkeypatch):
    from test_readback import ZH_DETAILS_REAL, ZH_DIGEST_DRIFT  # the hand-written drifted pages

    archive_day(home, [PAPER])
    (tmp_path / "details.md").write_text(ZH_DETAILS_REAL)
    atom = b"""<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom"><entry>
<id>http://arxiv.org/abs/2403.05678v1</id><title>Second Paper</title><summary>We distil small models for
speed.</summary><author><name>Cy Dee</name></author></entry></feed>"""
    server = serve(lambda path, headers: (200, {"Content-Type": "application/atom+xml"}, atom))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("SUMMARIZER_ARXIV_URL", server.url + "/api/query")
    monkeypatch.setenv("SUMMARIZER_ARXIV_DELAY", "0")
    (tmp_path / "digest.md").write_text(ZH_DIGEST_DRIFT)
    rows_report = build_dataset([tmp_path / "details.md", tmp_path / "digest.md"], tmp_path / "ds",
                                validation_share=0.0, check=False)
    assert any("id_list=2403.05678" in p.replace("%2C", ",") for p in server.requests)
    ids = sorted((r["id"], r["style"]) for r in load(tmp_path / "ds")["train"])
    assert ids == [("2403.01234", "zh-details"), ("2403.01234", "zh-digest"), ("2403.05678", "zh-digest")]
    assert any("2403.07777" in p and "no abstract" in r for _, p, r in rows_report.skipped)


def test_split_is_a_fixed_function_of_the_id():
    ids = [f"2403.{n:05d}" for n in range(2000)]
    first = [split_of(i) for i in ids]
    assert first == [split_of(i) for i in ids]  # deterministic
    share = first.count("validation") / len(ids)
    assert 0.07 < share < 0.13
    assert {split_of(i, 0.0) for i in ids} == {"train"} and {split_of(i, 1.0) for i in ids} == {"validation"}


def test_build_twice_gives_the_same_split(home, tmp_path):
    papers = [PAPER.replace(id=f"2403.{n:05d}", title=f"Paper {n}") for n in range(30)]
    archive_day(home, papers)
    md = render_digest(STYLES["en-bullets"], DAY, [Entry(p, FIELDS["en-bullets"]) for p in papers])
    (tmp_path / "a.md").write_text(md)
    build_dataset([tmp_path / "a.md"], tmp_path / "one", arxiv=False, validation_share=0.3)
    reordered = render_digest(STYLES["en-bullets"], DAY, [Entry(p, FIELDS["en-bullets"]) for p in papers[::-1]])
    (tmp_path / "b.md").write_text(reordered)
    build_dataset([tmp_path / "b.md"], tmp_path / "two", arxiv=False, validation_share=0.3)
    one, two = load(tmp_path / "one"), load(tmp_path / "two")
    for split in ("train", "validation"):
        assert sorted(one[split]["id"]) == sorted(two[split]["id"])
    assert 0 < len(one["validation"]) < 30


def test_prompt_column_is_the_engine_chat_text(home, tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    from summarizer.engine import chat_text
    from summarizer.prompt import build_prompt

    archive_day(home, [PAPER])
    (tmp_path / "p.md").write_text(render_digest(STYLES["en-bullets"], DAY, [Entry(PAPER, FIELDS["en-bullets"])]))
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    build_dataset([tmp_path / "p.md"], tmp_path / "ds", tokenizer=tok, arxiv=False, validation_share=0.0)
    row = load(tmp_path / "ds")["train"][0]
    assert row["prompt"] == chat_text(tok, build_prompt(STYLES["en-bullets"], PAPER))
    assert row["prompt"].endswith("<|im_start|>assistant\n" + STYLES["en-bullets"].prefill)


def test_no_examples_is_an_error(tmp_path):
    from test_readback import KO_BULLETS_REAL

    (tmp_path / "x.md").write_text(KO_BULLETS_REAL)
    with pytest.raises(SummarizerError, match="No examples could be built"):
        build_dataset([tmp_path / "x.md"], tmp_path / "ds", arxiv=False)
    with pytest.raises(SummarizerError, match="does not exist"):
        build_dataset([tmp_path / "missing.md"], tmp_path / "ds")


def test_dataset_cli_prints_counts_and_skips(home, tmp_path):
    from typer.testing import CliRunner

    from summarizer.cli import app

    archive_day(home, [PAPER])
    src = tmp_path / "en-bullets"
    src.mkdir()
    (src / f"{DAY}.md").write_text(render_digest(STYLES["en-bullets"], DAY, [
        Entry(PAPER, FIELDS["en-bullets"]), Entry(PAPER.replace(id="2403.09999", title="X"), None, "format: x")]))
    out = tmp_path / "ds"
    result = CliRunner().invoke(app, ["dataset", str(src), "--out", str(out), "--no-arxiv"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-2] == ("2 parsed, 1 joined (train 1, validation 0), 1 skipped; written by unknown (published "
                         "pages) 1") and lines[-1] == str(out)
    assert f"skipped {src / DAY}.md#2 2403.09999: no summary in the digest" in result.output
    failed = CliRunner().invoke(app, ["dataset", str(tmp_path / "none"), "--out", str(out)])
    assert failed.exit_code == 2 and failed.output.count("\n") == 1 and "does not exist" in failed.output
