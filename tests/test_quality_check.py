"""scripts/quality_check.py on invented fixtures: honest summaries pass the content rules, planted defects are caught."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import load_script

from summarizer.styles import STYLES

ROOT = Path(__file__).resolve().parent.parent
HONEST = ROOT / "tests" / "fixtures" / "honest-2026-04-01.jsonl"  # four invented papers, zh-tldr summaries
# Our own Korean and English summaries of the same four papers (no real reference is Korean or abstractive English).
KO = {
    "2604.10001": ["이 논문은 직물 무늬 인식을 평가하는 벤치마크 LoomBench를 소개합니다.",
                   "LoomBench는 직조 방식과 실 밀도가 표시된 4,800장의 직물 이미지로 구성됩니다.",
                   "가장 좋은 모델도 직조 방식을 61.3%만 맞히며, 전문가는 94.0%를 맞힙니다."],
    "2604.10002": ["Tidewise는 조위 관측소를 해안선을 따라 연결된 노드로 다루는 그래프 신경망입니다.",
                   "310개 관측소의 20년 기록으로 학습해 48시간 뒤의 수위를 예측합니다.",
                   "물리 모델보다 평균 절대 오차가 18% 낮고 1초 안에 실행됩니다."],
    "2604.10003": ["PhonoMix는 여러 화자의 음소 조각을 이어 붙여 새 발화를 만드는 데이터 증강 방법입니다.",
                   "FLEURS의 다섯 개 저자원 언어에서 Whisper-small의 단어 오류율을 평균 9.4% 줄입니다.",
                   "SpecAugment와 함께 쓸 수 있으며 오디오가 10시간 미만인 언어에서 효과가 가장 큽니다."],
    "2604.10004": ["Ledgerline은 언어 모델이 셀 주변과 함께 스프레드시트 수식을 읽고 오류를 찾는 시스템입니다.",
                   "1,500개의 실제 스프레드시트에서 알려진 오류의 71%를 정밀도 0.66으로 찾습니다.",
                   "사용자 연구에서 감사자의 검토 시간이 35% 빨라졌습니다."],
}
EN = {
    "2604.10001": ["LoomBench tests whether vision-language models can read woven textile patterns.",
                   "It holds 4,800 textile images labelled with weave type, thread count and repeat length.",
                   "The best of 12 models names the weave in 61.3% of cases, experts in 94.0%."],
    "2604.10002": ["Tidewise forecasts coastal water levels with a graph neural network over tide gauges.",
                   "Trained on 20 years of records from 310 gauges, it predicts 48 hours ahead.",
                   "Its error is 18% lower than the physical model's, and it runs in under a second."],
    "2604.10003": ["PhonoMix augments low-resource speech data by splicing phoneme segments of different speakers.",
                   "It cuts the word error rate of Whisper-small by 9.4% on five FLEURS languages.",
                   "It adds to SpecAugment and helps most where audio is scarce."],
    "2604.10004": ["Ledgerline lets a language model audit spreadsheet formulas in their cell neighbourhood.",
                   "It finds 71% of 2,300 known errors in 1,500 spreadsheets at 0.66 precision.",
                   "Auditors using it finished their reviews 35% faster."],
}
CONTENT = ("copy", "grounding", "fragment")  # refusing honest text here means "not about its paper": never


@pytest.fixture(scope="module")
def check():
    return load_script("quality_check")


@pytest.fixture(scope="module")
def result(check):
    pairs = check.rows([str(HONEST)])
    sets = {name: [(p, f) for p, t in pairs if (f := check.honest(STYLES[name], p, t)) is not None]
            for name, st in STYLES.items() if st.kind == "summary"}
    sets["ko-bullets"] = [(p, {"bullets": KO[p.id]}) for p, _ in pairs]
    sets["en-bullets"] = [(p, {"bullets": EN[p.id]}) for p, _ in pairs]
    return check.measure(sets)


def test_every_summary_style_has_an_honest_set(result):
    assert sorted(result["honest"]) == sorted(n for n, s in STYLES.items() if s.kind == "summary")
    assert all(c["papers"] == 4 for c in result["honest"].values())


@pytest.mark.parametrize("name", [n for n, s in sorted(STYLES.items()) if s.kind == "summary"])
def test_honest_summaries_are_not_refused(result, name):
    assert result["honest"][name].get("refused", 0) == 0, result["honest"][name]
    assert not any(result["honest"][name].get(rule) for rule in CONTENT)


@pytest.mark.parametrize("name", [n for n, s in sorted(STYLES.items()) if s.kind == "summary"])
def test_every_applicable_planted_defect_is_caught(result, name, check):
    planted = result["planted"][name]
    assert {"example_line", "other_paper"} <= set(planted)
    assert ("comma_fragments" in planted) == any(f.kind == "list" for f in STYLES[name].fields)
    missed = {kind: c for kind, c in planted.items() if kind != "example_scores" and c[0] < c[1]}
    assert not missed, missed
    if "example_scores" in planted:  # the report flags them (one paper's scores may honestly equal the example's)
        assert result["report"][name]["example_scores"][0] == planted["example_scores"][1]


def test_the_tables_name_every_style_and_defect(result, check):
    text = check.tables(result)
    assert all(name in text for name in result["honest"]) and all(kind in text for kind in check.DEFECTS)
