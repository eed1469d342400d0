"""Validation rules: each with a passing and a failing case, and the fixed fields of every style pass as a whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from summarizer.papers import Paper
from summarizer.styles import STYLES
from summarizer.validate import RULES, numbers, script_share, validate

FIELDS = json.loads((Path(__file__).parent / "golden" / "fields.json").read_text(encoding="utf-8"))
PAPER = Paper(
    id="2503.00001", title="Gizmo: Counting Marbles in Jars", date="2025-03-04",
    abstract="We introduce Gizmo, a benchmark of 1,200 synthetic jar images from three sources and 7M marbles. "
    "A small CNN reaches 91.5% accuracy, 3x chance, and the <b>code</b> is public.",
)
EN, ZH, KO = STYLES["en-bullets"], STYLES["zh-digest"], STYLES["ko-bullets"]
OK_BULLETS = ["Gizmo is a counting benchmark.", "It has synthetic jar images.", "A small CNN does well."]


def rules(style, fields, paper=PAPER) -> list[str]:
    return [p.rule for p in validate(style, fields, paper)]


def test_rule_names_are_stable():
    assert list(RULES) == ["required", "bullets", "keywords", "scores", "language", "leak", "repetition",
                           "numbers", "grounding", "length"]


@pytest.mark.parametrize("name", sorted(STYLES))
def test_fixed_fields_of_every_style_are_valid(name):
    assert validate(STYLES[name], FIELDS[name], PAPER) == []


@pytest.mark.parametrize("name", sorted(STYLES))
def test_required_fields_missing_or_empty(name):
    style = STYLES[name]
    first = style.fields[0].name
    assert rules(style, {**FIELDS[name], first: FIELDS[name][first]}) == []
    for broken in ({k: v for k, v in FIELDS[name].items() if k != first}, {**FIELDS[name], first: "" if
                   isinstance(FIELDS[name][first], str) else type(FIELDS[name][first])()}):
        problems = validate(style, broken, PAPER)
        assert problems[0].rule == "required" and (style.fields[0].marker or first) in problems[0].message


@pytest.mark.parametrize("count, ok", [(2, False), (3, True), (6, True), (7, False)])
def test_bullet_count(count, ok):
    items = [f"Point number {w} about Gizmo." for w in ["one", "two", "three", "four", "five", "six", "seven"]]
    assert ("bullets" not in rules(EN, {"bullets": items[:count]})) is ok


def zh(**changes) -> dict:
    return {**FIELDS["zh-digest"], **changes}


@pytest.mark.parametrize("keywords, ok", [
    (["Counting (计数)", "Benchmark (基准)", "CNN (卷积神经网络)", "Large Language Models (LLMs) (大型语言模型)",
      "Jar Images (罐子图像)"], True),
    (["Counting (计数)", "Benchmark (基准)", "CNN (卷积神经网络)", "Jar Images (罐子图像)"], False),
    (["Counting", "Benchmark (基准)", "CNN (卷积神经网络)", "Synthetic (合成)", "Jar Images (罐子图像)"], False),
    (["计数 (Counting)", "Benchmark (基准)", "CNN (卷积神经网络)", "Synthetic (合成)", "Jar (罐子)"], False),
])
def test_keywords_count_and_shape(keywords, ok):
    assert ("keywords" not in rules(ZH, zh(keywords=keywords))) is ok


@pytest.mark.parametrize("practicality, ok", [
    ({"score": 4, "reason": "有用。"}, True),
    ({"score": 6, "reason": "有用。"}, False),
    ({"score": 0, "reason": "有用。"}, False),
    ({"score": 4.5, "reason": "有用。"}, False),
    ({"score": 4, "reason": " "}, False),
    (None, False),
])
def test_scores_are_integers_1_to_5_with_a_reason(practicality, ok):
    scores = dict(FIELDS["zh-digest"]["scores"])
    if practicality is None:
        del scores["practicality"]
    else:
        scores["practicality"] = practicality
    assert ("scores" not in rules(ZH, zh(scores=scores))) is ok


@pytest.mark.parametrize("style, text, ok", [
    (EN, "Gizmo is a counting benchmark.", True),
    (EN, "Gizmo是一个计数基准，包含合成图像。", False),
    (ZH, "本文提出了Gizmo，一个用于Counting的Benchmark，包含合成图像。", True),
    (ZH, "This paper proposes Gizmo, a counting benchmark with 计数.", False),
    (KO, "이 논문은 Gizmo라는 벤치마크를 소개합니다.", True),
    (KO, "This paper introduces Gizmo, a benchmark.", False),
])
def test_language_share(style, text, ok):
    if style is ZH:
        fields = zh(work=text, highlights=["标注精确"])
    else:
        fields = {"bullets": [text] * 3}
    assert ("language" not in rules(style, fields)) is ok


def test_script_share_counts_latin_words_against_cjk_characters():
    assert script_share("大型语言模型 LLM", "zh") == pytest.approx(6 / 7)
    assert script_share("", "en") == 1.0


@pytest.mark.parametrize("text", [
    "Gizmo improves counting 【6†source】.",
    "As an AI language model, I cannot read papers.",
    "作为一个AI，我无法阅读论文。",
    "Traceback (most recent call last): boom",
    "RateLimitError: Rate limit reached for requests.",
    "Error 429: too many requests.",
    "The paper proposes a xxx method.",
    "本文提出了一个xxx。",
    "Gizmo counts {object_name} in jars.",
    "See <abstract> for details.",
    "Counting<|im_end|>",
    '{"bullets": ["Gizmo counts marbles."]}',
    "Title: Gizmo: Counting Marbles in Jars",
])
def test_leaked_artifacts_are_rejected(text):
    assert "leak" in rules(EN, {"bullets": [text, *OK_BULLETS[1:]]})


def test_markup_that_is_in_the_abstract_is_not_a_leak():
    assert rules(EN, {"bullets": ["The <b>code</b> is public.", *OK_BULLETS[1:]]}) == []


@pytest.mark.parametrize("bullets, ok", [
    (OK_BULLETS, True),
    (["Gizmo is a counting benchmark for jars.", "Gizmo is a counting benchmark for jars.", "A CNN does well."], False),
    (["The model is the model is the model is the model is the model is the model is the model is the model.",
      "It counts.", "It works."], False),
])
def test_degenerate_repetition(bullets, ok):
    assert ("repetition" not in rules(EN, {"bullets": bullets})) is ok


@pytest.mark.parametrize("highlights, ok", [
    # A 9-character term said three times is how Chinese summaries read, not a loop.
    (["合成计数基准测试任务提供了精确标注", "合成计数基准测试任务规模较小", "合成计数基准测试任务易于复现"], True),
    (["精确标注的合成图像" * 8, "小型CNN表现良好"], False),
])
def test_chinese_repetition_counts_characters_fairly(highlights, ok):
    fields = {**FIELDS["zh-digest"], "highlights": highlights}
    assert ("repetition" not in [p.rule for p in validate(STYLES["zh-digest"], fields, PAPER)]) is ok


@pytest.mark.parametrize("text, ok", [
    ("Gizmo has 1200 images.", True),
    ("Gizmo has 1,200 images and 7 million marbles.", True),
    ("A CNN reaches 91.5% accuracy, 3× chance.", True),
    ("It uses 3 sources.", True),  # "three" in the abstract
    ("Gizmo has 1,300 images.", False),
    ("A CNN reaches 92% accuracy.", False),
    ("Released in 2024.", False),
])
def test_numbers_must_appear_in_the_abstract(text, ok):
    assert ("numbers" not in rules(EN, {"bullets": [text, *OK_BULLETS[1:]]})) is ok


def test_numbers_normalize_units():
    assert numbers("1,000 runs, 12.3%, 4x faster, 7M marbles, 700万") >= {1000, 12.3, 4, 7e6}
    assert "numbers" not in rules(ZH, zh(work="本文提出了Gizmo，包含700万颗弹珠。"))


def test_score_values_are_not_checked_as_numbers():
    assert rules(ZH, zh()) == []  # scores 3/2/4 with "2" nowhere in the abstract


@pytest.mark.parametrize("name, factor, ok", [
    ("ko-translate", 1, True), ("ko-translate", 0.1, False), ("ko-translate", 3, False),
    ("zh-translate", 1, True), ("zh-translate", 0.1, False),
])
def test_translation_length_is_proportional(name, factor, ok):
    text = FIELDS[name]["translation"]
    cut = text[: int(len(text) * factor)] if factor < 1 else " ".join([text] * int(factor))
    problems = rules(STYLES[name], {"translation": cut})
    assert ("length" not in problems) is ok


@pytest.mark.parametrize("bullets, ok", [
    (["The paper introduces Gizmo, a benchmark of synthetic jar images.", "A small CNN reaches high accuracy.",
      "The code is public."], True),
    (["Quantum gardening improves tomato harvests in orbit.", "Astronauts prefer basil over mint.",
      "Hydroponic towers reduce water usage dramatically."], False),
])
def test_english_prose_is_grounded_in_the_abstract(bullets, ok):
    assert ("grounding" not in rules(EN, {"bullets": bullets})) is ok


def test_grounding_skips_other_languages():
    assert "grounding" not in rules(KO, {"bullets": ["양자 정원은 궤도에서 토마토 수확을 늘립니다."] * 3})


def test_length_rule_ignores_summaries():
    assert "length" not in rules(EN, {"bullets": OK_BULLETS})
