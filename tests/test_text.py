"""The text shapes the reply parser and the page read-back share (summarizer/text.py)."""

import pytest

from summarizer.text import BULLET, keyword, one_line, plain, score_line


@pytest.mark.parametrize("line, bulleted", [
    ("- item", True), ("* item", True), ("• item", True), ("1. item", True), ("2) item", True), ("3、item", True),
    ("(4) item", True), ("① item", True), ("-item", True),
    ("**bold** text", False), ("1.5x faster decoding", False), ("plain text", False),
])
def test_bullets(line, bulleted):
    assert bool(BULLET.match(line)) is bulleted


@pytest.mark.parametrize("raw", ["`Optical Flow` (`光流`)", "**Optical Flow**（光流）", "Optical Flow(光流)",
                                 "- Optical Flow ( 光流 )", "Optical Flow (光流)"])
def test_keyword_shapes_fold_to_one(raw):
    assert keyword(raw) == "Optical Flow (光流)"


@pytest.mark.parametrize("line, expected", [
    ("- 实用性: 4 - 可以直接用于移动端。", ("practicality", 4.0, "可以直接用于移动端。")),
    ("**创新性**：3分。思路常见", ("novelty", 3.0, "思路常见")),
    ("推荐度 4.5/5 适合读者", ("recommendation", 4.5, "适合读者")),
    ("Novelty: 2/5, incremental", ("novelty", 2.0, "incremental")),
    ("- 实用性评分：5分 理由", ("practicality", 5.0, "理由")),
])
def test_score_lines(line, expected):
    assert score_line(line) == expected


@pytest.mark.parametrize("line", ["- 本文提出了一种方法", "实用性很强，但没有分数", ""])
def test_non_score_lines(line):
    assert score_line(line) is None


def test_one_line_and_plain():
    assert one_line(" a \n b\tc ") == "a b c"
    assert one_line("x" * 10, limit=5) == "xxxx…"
    assert plain("- **粗体** `code`") == "粗体 code"
