"""Validation rules: each with a passing and a failing case, and the fixed fields of every style pass as a whole."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from summarizer.papers import Paper
from summarizer.prompt import format_output, parse_output, repair_prompt, system_prompt
from summarizer.styles import STYLES
from summarizer.text import ASKED_KEYWORD, asked_keyword
from summarizer.validate import (
    RULES,
    check_reply,
    duplicates,
    example_topic,
    numbers,
    prose,
    repair,
    script_share,
    similarity,
    validate,
)

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
                           "numbers", "grounding", "copy", "fragment", "length", "coverage"]


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


# A long sentence about PAPER per language, and the same with one word swapped: what a no-repeat ban made the 0.5B
# model write in two sections of one zh-details reply (2026-03-24).
SAID = {
    "en": ("Gizmo is a benchmark of synthetic jar images for counting the marbles inside each jar with small models.",
           "Gizmo is a benchmark of synthetic jar pictures for counting the marbles inside each jar with small models."),
    "zh": ("Gizmo是一个用合成罐子图像来统计弹珠数量的基准测试集。", "Gizmo是一个用合成瓶子图像来统计弹珠数量的基准测试集。"),
    "ko": ("Gizmo는 합성된 병 이미지로 구슬의 수를 세는 벤치마크 데이터셋입니다.", "Gizmo는 합성된 항아리 이미지로 구슬의 수를 세는 벤치마크 데이터셋입니다."),
}


def _slots(style):
    """(field, index) pairs the near-repetition rule compares: two paragraph fields, or two items of one list."""
    paragraphs = [(f.name, None) for f in style.fields if f.kind == "text" and not f.restates]
    lists = [[(f.name, 0), (f.name, 1)] for f in style.fields if f.kind == "list"]
    return [g[:2] for g in [paragraphs, *lists] if len(g) >= 2]


@pytest.mark.parametrize("name", sorted(STYLES))
def test_the_same_text_said_twice_with_a_word_swapped_is_repetition(name):
    style = STYLES[name]
    assert rules(style, FIELDS[name]) == []  # the golden reply says each thing once
    a, b = SAID[style.language]
    groups = _slots(style)
    if style.kind == "translate":  # one paragraph: nothing to compare it with (the piece redraws catch repeats)
        assert groups == []
        return
    assert groups, name
    for (fa, ia), (fb, ib) in groups:
        fields = json.loads(json.dumps(FIELDS[name]))
        for field, index, text in ((fa, ia, a), (fb, ib, b)):
            if index is None:
                fields[field] = text
            else:  # a list of one item gets a second
                items = fields[field] + [""] * (index + 1 - len(fields[field]))
                items[index] = text
                fields[field] = items
        assert "repetition" in rules(style, fields), (fa, fb)
        different = json.loads(json.dumps(fields))
        if ib is None:
            different[fb] = FIELDS[name][fb]
        else:
            different[fb] = [item for k, item in enumerate(fields[fb]) if k != ib]
        assert "repetition" not in rules(style, different), (fa, fb)


@pytest.mark.parametrize("name", [n for n, s in sorted(STYLES.items()) if any(f.restates for f in s.fields)])
def test_a_summary_or_title_may_say_again_what_a_section_says(name):
    style = STYLES[name]
    a, b = SAID[style.language]
    restating = next(f.name for f in style.fields if f.restates)
    other = next(f.name for f in style.fields if f.kind == "text" and not f.restates)
    fields = {**FIELDS[name], other: a, restating: b}
    assert "repetition" not in rules(style, fields)


@pytest.mark.parametrize("name", sorted(STYLES))
# Cyrillic М, kana, Cyrillic, Hangul, Chinese, and a character broken off midway (U+FFFD, "컨�다운")
@pytest.mark.parametrize("word", ["RLМ", "モデル", "на", "모델", "现有的", "x\ufffdy"])
def test_a_word_in_another_script_is_the_wrong_language(name, word):
    """What the 0.5B model wrote into Chinese summaries and Korean translations and bullets (2026-03-24); unless the
    abstract itself holds it."""
    style = STYLES[name]
    text_field = next(f.name for f in style.fields if f.kind == "text" or f.kind == "list")
    fields = json.loads(json.dumps(FIELDS[name]))
    value = fields[text_field]
    if isinstance(value, list):
        fields[text_field] = [f"{value[0]} {word}", *value[1:]]
    else:
        fields[text_field] = f"{value} {word}"
    # Hangul is another script to Chinese prose only, Chinese characters to Korean prose only.
    other_script = {"모델": style.language == "zh", "现有的": style.language == "ko"}.get(word, True)
    assert ("language" in rules(style, fields)) is other_script
    quoting = Paper(id=PAPER.id, title=PAPER.title, date=PAPER.date, abstract=f"{PAPER.abstract} ({word})")
    assert "language" not in rules(style, fields, quoting)


NAMED = Paper(id=PAPER.id, title=PAPER.title, date=PAPER.date, abstract=f"{PAPER.abstract} We release GizmoBench-3.")


@pytest.mark.parametrize("name", sorted(STYLES))
@pytest.mark.parametrize("word, ok", [
    ("GizmoBench-3", True), ("gizmobench-3", True), ("GizmoBench", True),  # case and a shorter form
    ("GizmoBanch-3", False), ("GismoBench-3", False), ("GizmoBunch-4", False),  # one or two letters changed
])
def test_the_papers_names_are_spelled_as_its_abstract_spells_them(name, word, ok):
    """Under the no-repeat ban the 0.5B model wrote "TerraScore-Bench" for "TerraScope-Bench" (2026-03-24)."""
    style = STYLES[name]
    field = next(f.name for f in style.fields if f.kind in ("text", "list"))
    fields = json.loads(json.dumps(FIELDS[name]))
    value = fields[field]
    fields[field] = [f"{value[0]} {word}", *value[1:]] if isinstance(value, list) else f"{value} {word}"
    assert ("grounding" not in rules(style, fields, NAMED)) is ok


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


@pytest.mark.parametrize("method, ok", [
    ("分两步：1) 生成玻璃罐图像；2) 统计弹珠。", True),
    ("1. 生成玻璃罐图像；2. 统计弹珠；(3) 训练CNN；（4）评估。", True),
    ("步骤包括：1）生成图像，2、统计弹珠。", True),
    ("分两步：1) 生成5张图像；2) 统计弹珠。", False),  # a number inside a numbered step still counts
    ("准确率提高了2.5个点。", False),  # "2." before a digit is a decimal, not numbering
    ("共生成12.", False),  # a number ending a sentence after a character is no numbering
])
def test_numbering_inside_a_paragraph_is_no_number(method, ok):
    fields = {**FIELDS["zh-tldr"], "method": method}
    assert ("numbers" not in rules(STYLES["zh-tldr"], fields)) is ok


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


def test_korean_prose_without_latin_terms_is_not_judged_by_grounding():
    assert "grounding" not in rules(KO, {"bullets": ["양자 정원은 궤도에서 토마토 수확을 늘립니다.", "둘", "셋"]})


@pytest.mark.parametrize("style, fields, ok", [
    (ZH, {**FIELDS["zh-digest"], "work": "本文提出Gizmo基准，用小型CNN统计罐中弹珠数量。"}, True),
    (ZH, {**FIELDS["zh-digest"], "work": "本文提出TinyFlow，通过Channel Pruning压缩Optical Flow网络，用于Mobile部署。",
          "keywords": ["Optical Flow (光流)", "Network Pruning (网络剪枝)", "Model Compression (模型压缩)",
                       "Channel Selection (通道选择)", "Mobile Deployment (移动端部署)"]}, False),
    (KO, {"bullets": ["Gizmo는 CNN으로 구슬을 세는 벤치마크입니다.", "합성 이미지를 사용합니다.", "코드는 공개됩니다."]}, True),
    (KO, {"bullets": ["TinyFlow는 Optical Flow 네트워크를 압축합니다.", "Channel Pruning을 씁니다.",
                      "Mobile Deployment에 적합합니다."]}, False),
])
def test_latin_terms_in_chinese_and_korean_prose_come_from_the_abstract(style, fields, ok):
    assert ("grounding" not in rules(style, fields)) is ok


@pytest.mark.parametrize("terms, ok", [
    # An acronym of the abstract's words ("synthetic jar images"), a plural of its word ("CNNs"): its terms.
    ("SJI, CNNs, SJIs, Jars", True),
    ("GQA, LLMs, RLHF, MoE", False),  # no phrase of the abstract spells them
])
def test_grounding_accepts_acronyms_and_plurals_of_the_abstract(terms, ok):
    bullets = [f"{terms}로 구슬을 셉니다.", "합성 이미지를 사용합니다.", "코드는 공개됩니다."]
    assert ("grounding" not in rules(KO, {"bullets": bullets})) is ok


def test_a_decimal_point_ends_no_sentence():
    # Two different results with the same decimal prefix ("提升15.") are no repeated sentence.
    # (Split at "91." they would share the 16-character sentence "小型CNN的计数准确率达到91."; as wholes they are
    # distinct, below the near-repetition share.)
    fields = {**FIELDS["zh-tldr"], "result": "小型CNN的计数准确率达到91.5%，是随机猜测的3倍，在三种来源的图像上都很稳定。",
              "conclusion": "小型CNN的计数准确率达到91.5%，说明合成数据可以用来评测各种计数模型。"}
    assert "repetition" not in rules(STYLES["zh-tldr"], fields)


UNRELATED = Paper(id="2503.00009", title="Sparse Routers for Speech Translation", date="2025-03-04", abstract=(
    "We study sparse mixture-of-experts routers for speech translation. A router trained with load balancing loss "
    "reaches 27.4 BLEU on MuST-C, while dense baselines reach 25.1 BLEU at twice the compute."))


@pytest.mark.parametrize("name", sorted(STYLES))
def test_the_styles_example_returned_for_an_unrelated_abstract_is_rejected(name):
    """The failure a 0.5B model showed: the prompt's example (or, for translations, another abstract's
    translation) with the paper's title swapped in. It must never pass."""
    style = STYLES[name]
    reply = style.example.replace("TinyFlow", "Sparse Routers") if style.example else format_output(style, FIELDS[name])
    found = set(rules(style, parse_output(style, reply), UNRELATED))
    assert found & {"copy", "grounding", "numbers", "coverage"}, found


@pytest.mark.parametrize("name", sorted(STYLES))
def test_one_reply_for_two_papers_rejects_both(name):
    reply = prose(FIELDS[name])
    found = duplicates({"2503.00001": reply, "2503.00002": reply, "2503.00003": prose(FIELDS["en-bullets"])})
    assert set(found) == {"2503.00001", "2503.00002"} or name == "en-bullets"
    assert all(p.rule == "duplicate" for p in found.values())


def test_different_papers_summaries_are_not_duplicates():
    zh_a = "本文提出Gizmo基准，包含1,200张合成图像，小型CNN达到91.5%的准确率。"
    zh_b = "本文研究语音翻译中的稀疏专家路由，在MuST-C上达到27.4 BLEU，计算量为稠密模型的一半。"
    assert similarity(zh_a, zh_b) < 0.25 and duplicates({"a": zh_a, "b": zh_b}) == {}


def test_copying_the_layout_skeleton_is_a_copy():
    from summarizer.prompt import system_prompt
    skeleton = system_prompt(ZH).split("never copy it.\n")[1].split("\nHIGHLIGHTS: 1 to")[0]
    fields = parse_output(ZH, skeleton.replace("［1-5］", "4"))
    assert "copy" in rules(ZH, fields)
    assert "copy" not in rules(ZH, FIELDS["zh-digest"])


@pytest.mark.parametrize("name", ["zh-translate", "ko-translate"])
def test_translation_keeps_every_number_and_the_end(name):
    style = STYLES[name]
    full = FIELDS[name]["translation"]
    assert "coverage" not in rules(style, {"translation": full})
    first_sentence = full.split("。" if name == "zh-translate" else ". ")[0]
    assert "coverage" in rules(style, {"translation": first_sentence})
    assert "coverage" in rules(style, {"translation": full.replace("7M", "")})


def test_layout_repair_keeps_the_first_grounded_keywords_and_moves_stray_scores():
    twelve = ["Deep Learning (深度学习)", "Gizmo (Gizmo基准)", "Counting (计数)", "模型压缩（模型压缩）",
              "Benchmark (基准)", "Jar Images (罐子图像)", "CNN (卷积神经网络)", "Marbles (弹珠)",
              "Model Training (模型训练)", "Accuracy (准确率)", "Synthetic Data (合成数据)", "Vision (视觉)"]
    scores = ["实用性: 4 - 基准可直接使用。", "创新性: 3 - 任务新颖。", "推荐度: 4 - 值得一读。"]
    fields = {**FIELDS["zh-digest"], "keywords": twelve + scores, "scores": {},
              "highlights": ["Gizmo包含合成图像。"] * 2 + [f"亮点{i}。" for i in range(6)]}
    fixed, notes = repair(ZH, fields, PAPER)
    assert fixed["keywords"] == ["Gizmo (Gizmo基准)", "Counting (计数)", "Benchmark (基准)", "Jar Images (罐子图像)",
                                 "CNN (卷积神经网络)"]
    assert set(fixed["scores"]) == {"practicality", "novelty", "recommendation"}
    assert fixed["highlights"] == ["Gizmo包含合成图像。"] + [f"亮点{i}。" for i in range(4)]
    assert notes == ["SCORES: moved from KEYWORDS:", "HIGHLIGHTS: kept 5 of 8 items", "KEYWORDS: kept 5 of 12 items"]
    assert {"keywords", "bullets", "scores"}.isdisjoint(rules(ZH, fixed))


def test_layout_repair_splits_a_list_written_on_one_line():
    fields = {**FIELDS["zh-digest"], "keywords": [", ".join(FIELDS["zh-digest"]["keywords"])]}
    fixed, notes = repair(ZH, fields, PAPER)
    assert fixed["keywords"] == FIELDS["zh-digest"]["keywords"] and notes == ["KEYWORDS: one line split into 5 items"]
    tags = repair(STYLES["zh-notes"], {**FIELDS["zh-notes"], "tags": ["计数、基准、合成数据"]}, PAPER)[0]["tags"]
    assert tags == ["计数", "基准", "合成数据"]


@pytest.mark.parametrize("name", [n for n, s in sorted(STYLES.items()) if any(f.kind == "list" for f in s.fields)])
def test_layout_repair_makes_one_item_of_each_sentence_where_items_are_sentences(name):
    """ko-bullets (each bullet one sentence): a bullet of three sentences becomes three, and a one-sentence reply is
    not split at its commas into "bullets" (what the 0.5B model's cut-off replies became on 2026-03-24). Other list
    fields keep their items, and their one-line lists are still split."""
    style = STYLES[name]
    f = next(f for f in style.fields if f.kind == "list")
    long = "이 논문은 Gizmo를 소개합니다. Gizmo는 구슬을 셉니다. 합성 이미지로 학습합니다."
    fixed, notes = repair(style, {**FIELDS[name], f.name: [long, "코드는 공개됩니다."]}, PAPER)
    if f.sentence_items:
        assert fixed[f.name] == ["이 논문은 Gizmo를 소개합니다.", "Gizmo는 구슬을 셉니다.", "합성 이미지로 학습합니다.",
                                 "코드는 공개됩니다."]
        assert notes == ["bullets: 2 items split into 4 sentences"]
    else:
        assert fixed[f.name] == [long, "코드는 공개됩니다."] and notes == []
    one = "이 논문은 웹, 디바이스, 운영 시스템 등 다양한 환경에서 쓰이는 Gizmo를 소개합니다."
    fixed, notes = repair(style, {**FIELDS[name], f.name: [one]}, PAPER)
    assert (fixed[f.name] == [one]) is (f.sentence_items or f.min_items < 2)  # a list of one may be one line
    assert any(style.fields[0].sentence_items for style in STYLES.values())


def _zh_reply_with_keywords(items: list[str]) -> str:
    """A zh-digest reply as the model writes it, with these KEYWORDS lines."""
    head, rest = format_output(ZH, FIELDS["zh-digest"]).split("KEYWORDS:\n")
    return head + "KEYWORDS:\n" + "".join(f"- {k}\n" for k in items) + rest[rest.index("SCORES:"):]


def test_keywords_written_as_the_prompt_asks_are_read_in_the_published_order():
    """The prompt asks for "中文 (English)"; digests publish "English (中文)": reading turns them, no repair."""
    asked = ["计数 (Counting)", "基准（Benchmark）", "Gizmo (Gizmo基准)", "卷积神经网络 (CNN)", "合成数据 (synthetic data)"]
    checked = check_reply(ZH, _zh_reply_with_keywords(asked), PAPER)
    assert checked.fields["keywords"] == ["Counting (计数)", "Benchmark (基准)", "Gizmo (Gizmo基准)",
                                          "CNN (卷积神经网络)", "synthetic data (合成数据)"]
    assert checked.repairs == [] and "keywords" not in {p.rule for p in checked.problems}


def test_an_asked_keyword_whose_chinese_half_holds_latin_is_turned_round_too():
    """"长CoT推理 (Long CoT Reasoning)" and "任务 agent (Task Agent)" hold Latin in their Chinese half."""
    mixed = ["长CoT推理 (Long CoT Reasoning)", "任务 agent (Task Agent)", "Gizmo (Gizmo基准)", "计数 (Counting)",
             "λ-RLM (Lambda-RLM)"]
    fields = parse_output(ZH, _zh_reply_with_keywords(mixed))
    assert fields["keywords"][:4] == ["Long CoT Reasoning (长CoT推理)", "Task Agent (任务 agent)", "Gizmo (Gizmo基准)",
                                      "Counting (计数)"]
    assert fields["keywords"][4] == "λ-RLM (Lambda-RLM)"  # no Chinese half at all: left as written, and it fails
    assert any("λ-RLM" in p.message for p in validate(ZH, fields, PAPER) if p.rule == "keywords")


# Four well-formed asked keywords that fill a zh-digest list beside the one under test.
FOUR_KEYWORDS = ["计数 (Counting)", "基准 (Benchmark)", "合成数据 (Synthetic Data)", "光流 (Optical Flow)"]


@pytest.mark.parametrize("asked, published", [
    ("3D生成 (3D Generation)", "3D Generation (3D生成)"),
    ("可绑定骨骼的3D资产 (3D Asset)", "3D Asset (可绑定骨骼的3D资产)"),
    ("4比特量化 (4-bit Quantization)", "4-bit Quantization (4比特量化)"),
    ("二维到三维 (2D-to-3D Lifting)", "2D-to-3D Lifting (二维到三维)"),
])
def test_an_asked_keyword_whose_english_half_starts_with_a_digit_is_turned_round(asked, published):
    """The English half is told by a Latin letter and no Chinese, not by its first character."""
    fields = parse_output(ZH, _zh_reply_with_keywords([asked, *FOUR_KEYWORDS]))
    assert fields["keywords"][0] == published
    assert "keywords" not in {p.rule for p in validate(ZH, fields, PAPER)}
    assert asked_keyword(published) == asked  # a fine-tuning target writes it as the prompt asks


@pytest.mark.parametrize("item", ["3D生成 (2025)", "生成 (生成3D)", "生成 (3-4)"])
def test_an_asked_keyword_without_a_latin_word_or_with_chinese_in_its_english_half_is_not_turned(item):
    fields = parse_output(ZH, _zh_reply_with_keywords([item, *FOUR_KEYWORDS]))
    assert fields["keywords"][0] == item
    assert any(item in p.message for p in validate(ZH, fields, PAPER) if p.rule == "keywords")


def test_a_fine_tuning_target_writes_keywords_as_the_prompt_and_its_examples_do():
    """format_output is the reply a model is trained to write: keywords in the asked "中文 (English)" order, the
    order of the style's example replies, and parse_output reads them back to the published fields."""
    target = format_output(ZH, FIELDS["zh-digest"])
    lines = [ln[2:] for ln in target.split("KEYWORDS:\n")[1].split("SCORES:")[0].splitlines()]
    assert len(lines) == 5 and all(ASKED_KEYWORD.match(k) for k in lines), lines
    shown = [ln[2:] for ex in ZH.examples for ln in ex.split("KEYWORDS:\n")[1].split("SCORES:")[0].splitlines()]
    assert shown and all(ASKED_KEYWORD.match(k) for k in shown)
    assert "中文术语 (English term)" in system_prompt(ZH)
    assert parse_output(ZH, target) == FIELDS["zh-digest"]


def test_one_copied_line_is_a_copy():
    reason = STYLES["zh-digest"].example.rsplit(" - ", 1)[1]  # the example's last score reason, word for word
    scores = {**FIELDS["zh-digest"]["scores"], "recommendation": {"score": 4, "reason": reason}}
    assert "copy" in rules(ZH, {**FIELDS["zh-digest"], "scores": scores})
    assert "copy" in rules(KO, {"bullets": ["Gizmo는 구슬을 세는 벤치마크입니다.", "합성 이미지를 사용합니다.",
                                            "후속 연구를 위해 코드를 공개합니다."]})


def test_layout_repair_brings_a_score_outside_the_scale_to_its_end():
    scores = {**FIELDS["zh-digest"]["scores"], "practicality": {"score": 6, "reason": "Gizmo可直接用于评测。"},
              "novelty": {"score": 0, "reason": "合成计数任务常见。"}}
    fixed, notes = repair(ZH, {**FIELDS["zh-digest"], "scores": scores}, PAPER)
    assert (fixed["scores"]["practicality"]["score"], fixed["scores"]["novelty"]["score"]) == (5, 1)
    assert notes == ["SCORES: score 6 brought into 1-5", "SCORES: score 0 brought into 1-5"]
    assert "scores" not in rules(ZH, fixed) and scores["practicality"]["score"] == 6  # the input is not changed


@pytest.mark.parametrize("keyword, ok", [
    ("Optical Flow (光流)", False),  # the example's keyword, not this paper's
    ("Network Pruning (网络剪枝)", False),
    ("Model Compression (模型压缩)", False),
    ("Synthetic Data (合成数据)", True),  # not the example's
])
def test_a_keyword_of_the_example_not_in_the_abstract_is_a_copy(keyword, ok):
    keywords = [*FIELDS["zh-digest"]["keywords"][:4], keyword]
    assert ("copy" not in rules(ZH, zh(keywords=keywords))) is ok


def test_a_keyword_of_the_example_that_the_abstract_names_is_no_copy():
    paper = Paper(id=PAPER.id, title=PAPER.title, date=PAPER.date, abstract=PAPER.abstract + " We use optical flow.")
    keywords = [*FIELDS["zh-digest"]["keywords"][:4], "Optical Flow (光流)"]
    assert "copy" not in rules(ZH, zh(keywords=keywords), paper)


def with_added(name: str, text: str) -> dict:
    """The style's valid fields with `text` added to the end of its last paragraph or list item."""
    field = [f for f in STYLES[name].fields if f.kind in ("text", "list")][-1]
    value = FIELDS[name][field.name]
    return {**FIELDS[name], field.name: f"{value} {text}" if field.kind == "text" else [*value[:-1], f"{value[-1]} {text}"]}


def shown_topic(name: str, i: int) -> tuple[list[str], object]:
    """Two topic terms of example paper `i` (derived from the example texts; Chinese or Korean ones first), and that
    example paper."""
    from summarizer.styles import EXAMPLE_PAPERS
    from summarizer.validate import example_topics

    shown = EXAMPLE_PAPERS[i]
    terms = example_topics(STYLES[name].language)[i][0]
    from summarizer.validate import _grounded, _source_words

    words, stems = _source_words(PAPER)  # a Latin term the paper's abstract holds is its own too
    own = [t for t in sorted(terms, key=lambda t: (t.isascii(), t))
           if t != shown.name.lower() and not (t.isascii() and _grounded(t, words, stems))]
    return own[:2], shown


EVERY_EXAMPLE = [(n, i) for n, s in sorted(STYLES.items()) if s.kind == "summary" for i in range(len(s.examples))]


@pytest.mark.parametrize(("name", "i"), EVERY_EXAMPLE)
def test_an_examples_topic_that_the_abstract_never_says_is_a_copy(name, i):
    """The 0.5B model carried the example paper's topic into other papers' summaries in phrases too short for the
    line rule ("HoloCine在多个光流基准上实验", "다양한 채널을 제거합니다"). What is each example's topic is derived
    from the example texts (example_topics), never listed; an abstract that shares the example's own words may use
    it. Every example is asked, whichever one the prompt showed."""
    st = STYLES[name]
    terms, shown = shown_topic(name, i)
    sep = " " if st.language != "zh" else ""
    fields = with_added(name, sep.join(terms) + ("." if st.language != "zh" else "。"))
    assert "copy" not in rules(st, FIELDS[name]) and "copy" in rules(st, fields), terms
    assert any("example's topic" in p.message for p in validate(st, fields, PAPER))
    # A paper that shares the example's words may use them.
    paper = dataclasses.replace(PAPER, abstract=f"{PAPER.abstract} {shown.abstract}")
    assert example_topic(st, prose(fields), PAPER) and not example_topic(st, prose(fields), paper)


@pytest.mark.parametrize(("name", "i"), EVERY_EXAMPLE)
def test_an_example_papers_name_is_a_copy_unless_the_abstract_says_it(name, i):
    """"TinyFlow在SLay the Spire 2游戏的环境中…" passed as a zh-details summary of a paper on agents' memory: one
    Latin term is too few for the grounding rule's share."""
    st = STYLES[name]
    _, shown = shown_topic(name, i)
    named = with_added(name, shown.name[:1].lower() + shown.name[1:] if st.language == "en" else shown.name.upper())
    assert "copy" not in rules(st, FIELDS[name]) and "copy" in rules(st, named)
    abstract = f"{PAPER.abstract} It extends {shown.name}."
    assert not example_topic(st, prose(named), dataclasses.replace(PAPER, abstract=abstract))


@pytest.mark.parametrize("name", [n for n, s in sorted(STYLES.items()) if s.language != "en"])
def test_a_sentence_left_in_english_is_the_wrong_language(name):
    """Sentences of the abstract copied untranslated into Korean bullets (25 and 39 words) and translations passed
    the share rule; a method's full name with its acronym (6 words at most in honest text) is no sentence."""
    st = STYLES[name]
    sentence = "A small CNN reaches high accuracy, and the code of Gizmo is public for everyone."
    assert "language" in rules(st, with_added(name, sentence)) and "language" not in rules(st, FIELDS[name])
    assert "language" not in rules(st, with_added(name, "Gizmo (Generative Image Zoo for Marble Objects)"))


def test_layout_repair_never_touches_content():
    fields = {**FIELDS["zh-digest"], "work": "This paragraph is in English, about 42 invented things."}
    fixed, notes = repair(ZH, fields, PAPER)
    assert fixed == fields and notes == [] and {"language", "numbers"} <= set(rules(ZH, fixed))
    assert repair(ZH, {**FIELDS["zh-digest"], "keywords": FIELDS["zh-digest"]["keywords"][:3]}, PAPER)[1] == []


def test_length_rule_ignores_summaries():
    assert "length" not in rules(EN, {"bullets": OK_BULLETS})


def test_an_example_line_with_a_few_words_swapped_is_still_a_copy():
    details = STYLES["zh-details"]
    fields = {**FIELDS["zh-details"], "challenges": ["哪些图像网络通道可以剪除：按通道对图像像素的影响排序，剪除贡献小的通道。"]}
    assert "copy" in rules(details, fields)
    assert "copy" not in rules(details, FIELDS["zh-details"])


def test_an_example_sentence_reworded_around_its_core_is_a_copy():
    details = STYLES["zh-details"]
    fields = {**FIELDS["zh-details"], "prior_work": "现有的计数网络虽然精度高，但对手机来说太笨重。"}
    assert "copy" in rules(details, fields)


@pytest.mark.parametrize("name", sorted(STYLES))
def test_words_of_the_retry_prompt_in_a_reply_are_a_leak(name):
    """On a repair retry the 0.5B model wrote '… Approach(" say the same.' into a Korean bullet (2026-03-24). Each line
    the retry prompt adds, with its quotes taken out, is a leak in any field; the reply it was built for is not."""
    style = STYLES[name]
    field = next(f.name for f in style.fields if f.kind in ("text", "list"))
    broken = json.loads(json.dumps(FIELDS[name]))
    value = broken[field]
    said = "Gizmo counts 77 marbles in 9 seconds. " * 3
    broken[field] = [said, said, *value[1:]] if isinstance(value, list) else said
    problems = [{"rule": p.rule, "message": p.message} for p in validate(style, broken, PAPER)]
    assert {"numbers", "repetition"} <= {p["rule"] for p in problems}
    base = repair_prompt(style, PAPER, []).user.split("\n\nYour previous reply")[0]
    added = repair_prompt(style, PAPER, problems + [{"rule": "copy", "message": "x"}]).user[len(base):]
    lines = [re.sub(r'"[^"]*"|\([^)]*\)', " ", line).strip("- ") for line in added.splitlines()]
    lines = [line for line in lines if len(line) > 3]
    assert len(lines) >= 4
    for line in lines:
        fields = json.loads(json.dumps(FIELDS[name]))
        value = fields[field]
        fields[field] = [f"{value[0]} {line}", *value[1:]] if isinstance(value, list) else f"{value} {line}"
        assert "leak" in rules(style, fields), line
    assert "leak" not in rules(style, FIELDS[name])


def renamed(name: str, new: str) -> dict:
    """The style's valid fields with the paper's own name Gizmo written as `new` everywhere."""
    return json.loads(json.dumps(FIELDS[name], ensure_ascii=False).replace("Gizmo", new))


@pytest.mark.parametrize("name", [n for n, s in sorted(STYLES.items()) if s.language != "en" and s.kind == "summary"])
@pytest.mark.parametrize("new, paper, ok", [
    ("OrbiNet", PAPER, False),  # one name, another paper's: no name of this paper is given
    ("OrbiGrow-2", PAPER, False),
    ("AI", PAPER, True), ("SOTA", PAPER, True),  # short capitals are the field's or the writer's abbreviations
    ("GizmoBench-3-Large", NAMED, True), ("GizmoBench", NAMED, True),  # a source name in part, or whole
])
def test_a_summary_whose_only_distinctive_name_is_not_the_papers_is_about_another_paper(name, new, paper, ok):
    """A Chinese or Korean summary of another paper gives few Latin terms, too few for the share rule; one name of
    its own paper, absent from this abstract even in part, is enough to say so."""
    assert "grounding" not in rules(STYLES[name], FIELDS[name], paper)
    assert ("grounding" not in rules(STYLES[name], renamed(name, new), paper)) is ok


@pytest.mark.parametrize("name", [n for n, s in sorted(STYLES.items()) if s.language != "en" and s.kind == "summary"])
def test_a_distinctive_name_a_letter_off_the_papers_is_a_misspelling_not_another_paper(name):
    """A four-letter acronym is too short for the misspelling rule; written with a letter more it is a distinctive name
    that is not the abstract's: the problem says which name was meant."""
    paper = dataclasses.replace(PAPER, abstract=f"{PAPER.abstract} We call it RLEV.")
    problems = validate(STYLES[name], renamed(name, "RLLEV"), paper)
    assert [p.rule for p in problems if p.rule == "grounding"] == ["grounding"]
    assert any('"RLLEV" is not "RLEV"' in p.message for p in problems)


@pytest.mark.parametrize("name", [n for n, s in sorted(STYLES.items()) if s.language == "ko"])
@pytest.mark.parametrize("said, broken", [
    ("구슬의 파aring유형을 셉니다.", True),  # a syllable glued before a Latin run: no Korean word is written so
    ("구슬의 타jectory를 추적합니다.", True),  # a piece of the abstract's "trajectory"
    ("구슬의 trajectory를 추적합니다.", False), ("Gizmo는 CNN을 씁니다.", False),  # whole words, a particle after
    ("코드는 github.com에 있습니다.", False), ("구슬 3x를 셉니다.", False),
])
def test_a_latin_run_glued_after_a_korean_syllable_is_a_broken_word(name, said, broken):
    paper = dataclasses.replace(PAPER, abstract=f"{PAPER.abstract} Gizmo tracks each marble's trajectory.")
    assert ("language" in rules(STYLES[name], with_added(name, said), paper)) is broken


def test_a_chinese_topic_term_is_the_papers_own_when_its_abstract_says_the_examples_english_for_it():
    """An honest summary of an event-camera detector ("三通道伪RGB表示", "精度与效率") held two of TinyFlow's topic
    terms; its abstract says "three-channel", the English that TinyFlow's keyword "通道选择 (Channel Selection)" gives
    通道, so only one term is the example's and the summary is no copy. Without that word it is one."""
    from summarizer.validate import example_topics

    st = STYLES["zh-tldr"]
    assert example_topics("zh")[0][2]["通道"] == {"channel"}  # aligned by position: not "selection"
    text = "本文提出EvDet，用紧凑的三通道伪RGB表示编码事件，在Gen1上取得了精度与效率的最佳平衡。"
    plain = "EvDet: Event Detection. We propose EvDet, a compact pseudo-RGB event representation; results on Gen1."
    said = plain.replace("compact pseudo-RGB", "compact three-channel pseudo-RGB")
    assert example_topic(st, text, dataclasses.replace(PAPER, title="EvDet", abstract=plain)) == ["精度", "通道"]
    assert not example_topic(st, text, dataclasses.replace(PAPER, title="EvDet", abstract=said))


def test_a_chinese_topic_term_beside_its_own_english_is_one_term_not_two():
    """The 0.5B model wrote "神经网络" and "network" in summaries of papers shown another example: one generic word in
    two scripts, not two of TinyFlow's topic terms."""
    st = STYLES["zh-digest"]
    paper = dataclasses.replace(PAPER, title="Hyperagents", abstract="Self-improving agents edit their own code.")
    assert not example_topic(st, "本文用神经网络（neural network）让智能体修改自己的代码。", paper)
    assert example_topic(st, "本文用神经网络（neural network）剪除智能体的通道。", paper)  # a third term: a copy
