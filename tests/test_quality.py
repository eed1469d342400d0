"""The quality report: every style, with and without references, each signal able to fail, and the CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from summarizer import SummarizerError, quality, sidecar
from summarizer.cli import app
from summarizer.papers import Paper
from summarizer.prompt import format_output
from summarizer.sidecar import Record
from summarizer.styles import SCORE_LABELS, STYLES

FIELDS = json.loads((Path(__file__).parent / "golden" / "fields.json").read_text(encoding="utf-8"))
PAPER = Paper(
    id="2503.00001", title="Gizmo: Counting Marbles in Jars", date="2025-03-04",
    abstract="We introduce Gizmo, a benchmark of 1,200 synthetic jar images from three sources and 7M marbles. "
    "A small CNN reaches 91.5% accuracy, 3x chance, and the code is public.",
)
OTHER = Paper(id="2503.00002", title="Gizmo Two", date="2025-03-04", abstract=PAPER.abstract)


def doc(name: str, fields_by_id: dict[str, dict], valid: bool = True) -> dict:
    """A parsed sidecar of style `name` holding one record per paper id (PAPER's abstract for each)."""
    st = STYLES[name]
    papers = [PAPER.replace(id=pid, title=f"Gizmo {pid}") for pid in fields_by_id]
    records = {pid: Record(fields=f, raw=format_output(st, f), problems=[] if valid else
                           [{"rule": "copy", "message": "x"}]) for pid, f in fields_by_id.items()}
    return json.loads(sidecar.document("2025-03-04", name, "now", {"model": {"model": "tiny"}},
                                       [p.to_dict() for p in papers], records))


@pytest.mark.parametrize("name", sorted(STYLES))
@pytest.mark.parametrize("with_refs", [False, True])
def test_every_style_reports_per_paper_and_per_digest(name, with_refs):
    d = doc(name, {"2503.00001": FIELDS[name], "2503.00002": FIELDS[name]})
    refs = {"2503.00001": FIELDS["zh-tldr"]["tldr"]} if with_refs else {}
    report = quality.digest_quality(d, refs, "day.json")
    assert [r["id"] for r in report["papers"]] == ["2503.00001", "2503.00002"]
    row, digest = report["papers"][0], report["digest"]
    assert digest["judged"] == 2 and row["valid"] and not row["repeated"] and not row["broken"]
    assert not row["misspelled"] and not row["fragments"] and 0 <= row["copied"] <= 1
    assert row["coverage"] is not None and row["coverage"] > 0  # Gizmo, CNN, 1,200, 91.5% ...
    assert (row["chrf"] is not None) == with_refs and (digest["chrf"] is not None) == with_refs
    assert report["papers"][1]["chrf"] is None and digest["references"] == int(with_refs)
    table = quality.report_table(report)
    assert table.count("\n| 2503.") == 2 and name in table
    assert quality.headline(report).startswith("quality: ") and name in quality.STYLE_SIGNALS
    json.dumps(report)  # the --json output


@pytest.mark.parametrize("name", sorted(STYLES))
def test_a_reference_equal_to_the_summary_scores_higher_than_another(name):
    from summarizer.dataset import reference_text

    d = doc(name, {"2503.00001": FIELDS[name]})
    own = quality.digest_quality(d, {"2503.00001": reference_text(STYLES[name], FIELDS[name])})["digest"]
    other = "그 밖의 다른 논문." if name.startswith("ko") else "一篇完全无关的论文，讨论语音翻译。"
    far = quality.digest_quality(d, {"2503.00001": other})["digest"]
    assert own["chrf"] > 90 and own["rouge_l"] > 90 and far["chrf"] < own["chrf"]


def test_scores_equal_to_the_example_and_one_triple_a_day_are_counted():
    st = STYLES["zh-digest"]
    example = quality.example_scores(st, st.example)
    assert example is not None and len(example) == 3
    labels = ("practicality", "novelty", "recommendation")
    same = copy.deepcopy(FIELDS["zh-digest"])
    for key, score in zip(labels, example, strict=True):
        same["scores"][key]["score"] = score
    report = quality.digest_quality(doc("zh-digest", {"2503.00001": same, "2503.00002": same}))
    assert report["digest"]["example_scores"] == 2 and report["digest"]["score_triples"] == 1
    assert quality.one_triple_day(report) and "defect:" in quality.report_table(report)
    mixed = quality.digest_quality(doc("zh-digest", {"2503.00001": same, "2503.00002": FIELDS["zh-digest"]}))
    assert mixed["digest"]["example_scores"] == 1 and quality.one_triple_day(mixed) is None
    assert mixed["digest"]["top_triple_papers"] == 1


def test_invalid_papers_are_listed_but_not_counted_for_the_reader():
    report = quality.digest_quality(doc("en-bullets", {"2503.00001": FIELDS["en-bullets"]}, valid=False))
    assert len(report["papers"]) == 1 and not report["papers"][0]["valid"] and report["digest"]["judged"] == 0


def test_prose_copied_from_the_abstract_is_measured():
    st = STYLES["en-bullets"]
    own = quality.paper_quality(st, FIELDS["en-bullets"], PAPER)
    pasted = quality.paper_quality(st, {"bullets": [PAPER.abstract]}, PAPER)
    assert own["copied"] < 0.5 <= pasted["copied"] and pasted["longest_copy"] > own["longest_copy"]


def test_repeated_headings_and_items_are_counted():
    st = STYLES["zh-details"]
    same = {**FIELDS["zh-details"], "challenges": ["块大小限制: 按图像切块。", "块大小限制: 调整遮挡。", "块大小限制: 重新采样。"]}
    assert len(quality.paper_quality(st, same, PAPER)["repeated"]) == 2
    assert quality.paper_quality(st, FIELDS["zh-details"], PAPER)["repeated"] == []


def test_misspelled_names_broken_words_and_fragments_are_found():
    ko, en, zh = STYLES["ko-bullets"], STYLES["en-bullets"], STYLES["zh-tldr"]
    paper = PAPER.replace(abstract=PAPER.abstract + " Gizmo tracks each marble's trajectory with MarbleNet.")
    broken = ["구슬의 타jectory를 추적합니다.", "MarbelNet이 쓰입니다."]
    q = quality.paper_quality(ko, {"bullets": broken + FIELDS["ko-bullets"]["bullets"]}, paper)
    assert q["broken"] and "jectory" in q["broken"][0] and q["misspelled"] == ["MarbelNet (MarbleNet)"]
    assert quality.paper_quality(ko, FIELDS["ko-bullets"], paper)["broken"] == []
    assert quality.paper_quality(zh, {**FIELDS["zh-tldr"], "method": "用MarbleNet追踪trajectory。"}, paper)["broken"] == []
    cut = {"bullets": ["a benchmark of 1,200 synthetic jar images", "3x chance", "and the code is public"]}
    assert quality.paper_quality(en, cut, PAPER)["fragments"] == cut["bullets"]
    assert quality.paper_quality(en, FIELDS["en-bullets"], PAPER)["fragments"] == []


@pytest.mark.parametrize("name", sorted(STYLES))
def test_an_honest_summary_of_every_style_has_no_flaw(name):
    st = STYLES[name]
    assert quality.flaws(st, FIELDS[name], PAPER, example=st.examples[0] if st.examples else "") == []


def _scores(triple):
    return {k: {"score": n, "reason": "理由。"} for k, n in zip(SCORE_LABELS, triple, strict=True)}


# One planted flaw each: (style, the golden fields with it, the example reply shown, what flaws() says first).
_PAPER2 = PAPER.replace(abstract=PAPER.abstract + " Gizmo tracks each marble's trajectory with MarbleNet.")
PLANTED = {
    "example scores": ("zh-digest", {**FIELDS["zh-digest"], "scores": _scores((5, 2, 3))},
                       STYLES["zh-digest"].examples[1], "scores 5/2/3 equal to the example's"),
    "broken word": ("ko-bullets", {"bullets": ["구슬의 타jectory를 추적합니다.", *FIELDS["ko-bullets"]["bullets"]]}, "",
                    "word broken between scripts (의 타jectory를"),
    "repeated item": ("zh-details", {**FIELDS["zh-details"], "challenges": ["块大小限制: 按图像切块。",
                                                                            "块大小限制: 调整遮挡。"]}, "",
                      "repeated item (块大小限制: 调整遮挡。)"),
    "fragment": ("en-bullets", {"bullets": ["3x chance", *FIELDS["en-bullets"]["bullets"]]}, "",
                 "abstract fragment as an item (3x chance)"),
    "misspelled": ("ko-bullets", {"bullets": ["MarbelNet이 쓰입니다.", *FIELDS["ko-bullets"]["bullets"]]}, "",
                   "misspelled name MarbelNet (MarbleNet)"),
}


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_each_planted_flaw_is_named(kind):
    name, fields, example, said = PLANTED[kind]
    got = quality.flaws(STYLES[name], fields, _PAPER2, example=example)
    assert got and got[0].startswith(said), got


def test_coverage_counts_the_abstracts_names_and_numbers():
    st = STYLES["en-bullets"]
    assert quality.paper_quality(st, {"bullets": ["Nothing of it at all here."]}, PAPER)["coverage"] == 0
    full = quality.paper_quality(st, {"bullets": ["Gizmo and CNN, 1,200 images, 7M marbles, 91.5%, 3x."]}, PAPER)
    assert full["coverage"] == 1
    assert quality.coverage("anything", PAPER.replace(title="plain", abstract="no names here")) is None


def test_references_come_from_enhanced_jsonl_and_from_another_runs_sidecar(tmp_path):
    row = {"id": "2503.00001", "title": "Gizmo", "summary": PAPER.abstract,
           "AI": {k: FIELDS["zh-tldr"][k] for k in FIELDS["zh-tldr"]}}
    (tmp_path / "refs-2025-03-04.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    other = tmp_path / "other.json"
    other.write_text(json.dumps(doc("zh-digest", {"2503.00002": FIELDS["zh-digest"]}), ensure_ascii=False),
                     encoding="utf-8")
    refs = quality.load_references([tmp_path / "refs-2025-03-04.jsonl", other])
    assert set(refs) == {"2503.00001", "2503.00002"} and FIELDS["zh-tldr"]["tldr"] in refs["2503.00001"]


def test_cli_quality_prints_a_table_or_json_and_fails_in_one_line(tmp_path):
    side = tmp_path / "2025-03-04.json"
    side.write_text(json.dumps(doc("zh-digest", {"2503.00001": FIELDS["zh-digest"]}), ensure_ascii=False),
                    encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(app, ["quality", str(side), "--references", str(side)])
    assert out.exit_code == 0 and "| 2503.00001 | yes |" in out.output and "chrF 100.0" in out.output
    out = runner.invoke(app, ["quality", str(side), "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["digest"]["judged"] == 1
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    out = runner.invoke(app, ["quality", str(bad)])
    assert out.exit_code == 2 and "bad.json" in out.output and len(out.output.strip().splitlines()) == 1
    with pytest.raises(SummarizerError, match="not a digest sidecar"):
        quality.digest_quality({"style": "nope"}, {}, "x.json")
