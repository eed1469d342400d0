"""Evaluation metrics on fixed strings, and the eval run/CLI on the tiny random model."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from summarizer import SummarizerError
from summarizer.evaluate import _Tokens, chrf, judge, markdown_table, rouge_l, summarize
from summarizer.papers import Paper

PAPER = Paper(id="2403.01234", title="Lumen", date="2024-03-05",
              abstract="Lumen skips 90% of the key blocks and runs 3 times faster on 2 benchmarks.")


def test_chrf_identity_zero_and_signature():
    same, sig = chrf(["the cat sat on the mat"], ["the cat sat on the mat"])
    assert same == pytest.approx(100.0)
    assert sig.startswith("nrefs:1|") and "nc:6" in sig and "nw:0" in sig
    none, _ = chrf(["xyz"], ["abc"])
    assert none == pytest.approx(0.0)
    partial, _ = chrf(["the cat sat"], ["the cat sat on the mat"])
    assert 0 < partial < 100


def test_chrf_works_for_chinese_and_korean_without_tokenizing():
    zh, _ = chrf(["本文提出了一种稀疏注意力方法"], ["本文提出了一种新的稀疏注意力内核"])
    ko, _ = chrf(["희소 어텐션 커널을 제안합니다"], ["새로운 희소 어텐션 커널을 제안합니다"])
    assert 30 < zh < 100 and 30 < ko < 100


def test_rouge_l_exact_values():
    # LCS("a b c d", "a c d e") = 3 tokens; P = R = 3/4 → F1 = 0.75
    assert rouge_l(["a b c d"], ["a c d e"], "en") == pytest.approx(75.0)
    assert rouge_l(["A, b."], ["a b"], "en") == pytest.approx(100.0)  # case and punctuation are not words
    assert rouge_l([], [], "en") == 0.0


def test_rouge_l_is_not_zero_for_chinese_and_korean():
    # chars: hyp 稀疏注意力方法 (7), ref 稀疏注意力内核 (7), LCS 稀疏注意力 = 5 → F1 = 5/7
    assert rouge_l(["稀疏注意力方法"], ["稀疏注意力内核"], "zh") == pytest.approx(100 * 5 / 7)
    # words: 2 of 3 in order on both sides → F1 = 2/3
    assert rouge_l(["희소 어텐션 방법"], ["희소 어텐션 커널"], "ko") == pytest.approx(100 * 2 / 3)
    from rouge_score import rouge_scorer  # the trap this guards against: the default tokenizer drops Hangul

    assert rouge_scorer.RougeScorer(["rougeL"]).score("희소 어텐션", "희소 어텐션")["rougeL"].fmeasure == 0.0


def test_tokenizers():
    assert _Tokens("zh").tokenize("稀疏 注意") == ["稀", "疏", "注", "意"]
    assert _Tokens("ko").tokenize("희소, 어텐션!") == ["희소", "어텐션"]


def test_judge_rates_format_language_and_numbers():
    good = judge("en-bullets", "- Lumen skips 90% of key blocks.\n- It is 3 times faster.\n- Tested on 2 benchmarks.",
                 PAPER)
    assert (good["format_valid"], good["language_ok"], good["numbers_ok"], good["rules"]) == (True, True, True, [])
    assert good["text"] == "Lumen skips 90% of key blocks.\nIt is 3 times faster.\nTested on 2 benchmarks."
    invented = judge("en-bullets", "- Lumen skips 95% of blocks.\n- It is fast.\n- It is good.", PAPER)
    assert invented["format_valid"] and not invented["numbers_ok"]
    unparsable = judge("zh-digest", "Lumen is a kernel.", PAPER)
    assert not unparsable["format_valid"] and not unparsable["language_ok"] and unparsable["rules"] == ["format"]
    too_few = judge("en-bullets", "- Only one bullet here.", PAPER)
    assert not too_few["format_valid"] and too_few["rules"] == ["bullets"]


def test_about_its_own_paper_is_a_share_of_the_format_valid_replies():
    from summarizer.styles import STYLES

    own = "- Lumen skips 90% of key blocks.\n- It is 3 times faster.\n- Tested on 2 benchmarks."
    other = ("- TinyFlow prunes optical flow networks for phones.\n- Channels are ranked by estimation error.\n"
             "- Pruned networks keep accuracy on mobile devices.")
    judged = [judge("en-bullets", t, PAPER) for t in (own, other, STYLES["en-bullets"].example, "- Only one.")]
    assert [j["about_paper"] for j in judged] == [True, False, False, True]
    assert [j["format_valid"] for j in judged] == [True, True, True, False]
    assert {"grounding"} <= set(judged[1]["rules"]) and "copy" in judged[2]["rules"]
    s = summarize(judged, ["ref"] * 4, "en")
    assert s["grounded"] == pytest.approx(1 / 3)  # one of the three format-valid replies is about Lumen
    assert summarize(judged[3:], ["ref"], "en")["grounded"] is None  # no format-valid reply: no share
    assert judge("zh-digest", "no layout", PAPER)["about_paper"] is False
    table = markdown_table(s | {"model": {"model": "m"}, "finished_rate": 1.0, "tokens_per_second": 12.5})
    assert "| about its own paper (of format valid) | 33% |" in table and "| generated tokens/s (whole run) | 12.5 |" in table
    none = markdown_table(summarize(judged[3:], ["ref"], "en") | {"model": {}, "finished_rate": 1.0,
                                                                  "tokens_per_second": 0.0})
    assert "| about its own paper (of format valid) | – |" in none


def test_summarize_rates():
    judged = [judge("en-bullets", t, PAPER) for t in (
        "- Lumen skips 90% of key blocks.\n- It is 3 times faster.\n- Tested on 2 benchmarks.",
        "- Lumen skips 95% of blocks.\n- It is fast.\n- It is good.",
    )]
    refs = ["Lumen skips 90% of the key blocks.\nIt runs 3 times faster.\nIt was tested on 2 benchmarks."] * 2
    s = summarize(judged, refs, "en")
    assert s["examples"] == 2 and s["format_valid"] == 1.0 and s["numbers_ok"] == 0.5 and s["fully_valid"] == 0.5
    assert s["failures"] == {"numbers": 1}
    assert 0 < s["chrf"] < 100 and 0 < s["rouge_l"] < 100 and s["chrf_signature"].startswith("nrefs:1")


def short_rows(n: int) -> list[dict]:
    """Dataset rows with a short prompt: the tiny test model has 512 positions and a byte tokenizer."""
    from summarizer.dataset import reference_text
    from summarizer.prompt import build_prompt, format_output
    from summarizer.styles import STYLES

    fields = {"bullets": ["Lumen skips 90% of key blocks.", "It is 3 times faster.", "Tested on 2 benchmarks."]}
    st = STYLES["en-bullets"]
    prompt = build_prompt(st, PAPER)
    return [{"id": f"2403.{i:05d}", "style": "en-bullets", "title": "Lumen", "date": "2024-03-05", "prompt": "",
             "system": prompt.system, "user": prompt.user, "abstract": PAPER.abstract,
             "completion": format_output(st, fields), "reference": reference_text(st, fields),
             "fields": json.dumps(fields), "source": f"t.md#{i}"} for i in range(n)]


@pytest.fixture
def tiny_dataset(tmp_path):
    from summarizer.dataset import save

    out = tmp_path / "ds"
    save(short_rows(12), out, validation_share=0.5)
    return out


@pytest.mark.slow
def test_eval_cli_writes_json_and_markdown(tiny_dataset, tiny_model_dir, tmp_path, monkeypatch):
    from summarizer import compose
    from summarizer.cli import app

    monkeypatch.setattr(compose, "ITEM_REDRAWS", 0)  # sampled redraws of its random bullets may happen to parse

    out = tmp_path / "eval.json"
    result = CliRunner().invoke(app, ["eval", "--model", str(tiny_model_dir), "--dataset", str(tiny_dataset),
                                      "--style", "en-bullets", "--limit", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["examples"] == 2 and doc["styles"] == ["en-bullets"] and doc["generated_tokens"] > 0
    assert doc["format_valid"] == 0.0  # a random model writes no bullets
    assert doc["tokens_per_second"] > 0 and doc["chrf_signature"].startswith("nrefs:1")
    assert out.with_suffix(".md").read_text() == markdown_table(doc)
    assert "| chrF |" in result.output


def test_eval_errors_are_one_line(tiny_dataset, tmp_path):
    from summarizer.cli import app
    from summarizer.evaluate import evaluate

    with pytest.raises(SummarizerError, match="has no rows of style zh-digest"):
        evaluate(None, tiny_dataset, style="zh-digest")
    result = CliRunner().invoke(app, ["eval", "--dataset", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "is not a dataset built by `summarizer dataset`" in result.output


def test_eval_prompts_are_the_inference_prompts(tiny_dataset, monkeypatch):
    """Eval generates through the engine with the digest's prompt: its instructions and the style's reply prefill."""
    from summarizer import engine
    from summarizer.evaluate import evaluate
    from summarizer.prompt import system_prompt
    from summarizer.styles import STYLES

    seen = []

    def fake_generate(lm, prompts, config, on_result=None):
        seen.extend(prompts)
        # A whole list (3 bullets): a shorter one would be continued by a round of its own (compose._one_pass).
        return [engine.Generation(p.key, p.prefill + " Lumen skips 90% of key blocks.\n- It is fast.\n- It is small.",
                                  5, 5, 0.1, False, True) for p in prompts]

    monkeypatch.setattr(engine, "generate", fake_generate)
    lm = engine.LoadedModel(model=None, tokenizer=None, kind="causal", provenance={"model": "fake"})
    evaluate(None, tiny_dataset, style="en-bullets", lm=lm)
    style = STYLES["en-bullets"]
    assert seen and all(p.prefill == style.prefill and p.system == system_prompt(style) for p in seen)


def fake_model(replies):
    """A LoadedModel stand-in and an engine.generate whose reply to a prompt is replies(prompt, call number)."""
    from summarizer import engine

    calls = []

    def generate(lm, prompts, config, on_result=None):
        calls.append(prompts)
        out = [engine.Generation(p.key, p.prefill + replies(p, len(calls)), 5, 5, 0.1, False, True) for p in prompts]
        for i, g in enumerate(out):
            if on_result:
                on_result(i, g)
        return out

    return engine.LoadedModel(model=None, tokenizer=None, kind="causal", provenance={"model": "fake"}), generate, calls


GOOD = " Lumen skips 90% of key blocks.\n- It is 3 times faster.\n- Tested on 2 benchmarks."


@pytest.mark.parametrize("retries", [0, 2])
def test_eval_runs_the_digests_retries_and_counts_first_passes_and_retries(retries, tiny_dataset, monkeypatch):
    """The papers of odd number fail their first pass (an assistant disclaimer) and pass when resampled: first-pass
    validity is the even papers' share whatever the retries; with retries every paper ends valid, one retry each for
    the failing ones."""
    from summarizer import compose, engine
    from summarizer.evaluate import evaluate

    monkeypatch.setattr(compose, "ITEM_REDRAWS", 0)
    bad = {"2403.00001", "2403.00003", "2403.00005", "2403.00007", "2403.00009", "2403.00011"}

    def replies(p, call):
        return " As an AI language model, I cannot do this." if p.key in bad and call == 1 else GOOD

    lm, generate, calls = fake_model(replies)
    monkeypatch.setattr(engine, "generate", generate)
    monkeypatch.setattr("summarizer.digest.duplicates", lambda summaries: {})  # one reply for every paper
    r = evaluate(None, tiny_dataset, style="en-bullets", lm=lm, retries=retries)
    n, failing = r["examples"], len({e["id"] for e in r["per_example"]} & bad)
    assert 0 < failing < n
    assert r["first_pass_valid"] == pytest.approx(1 - failing / n)
    assert r["valid"] == pytest.approx(1.0 if retries else 1 - failing / n)
    assert r["retries_per_paper"] == pytest.approx(failing / n if retries else 0.0)
    assert r["rounds_per_paper"] == pytest.approx(1 + failing / n if retries else 1.0)
    assert r["papers_per_minute"] > 0 and 0.5 < r["length_ratio"] < 1.5 and r["copied"] == 0.0
    assert all(e["passes"] == (2 if e["id"] in bad and retries else 1) for e in r["per_example"])


def test_sign_test_exact_values():
    from summarizer.evaluate import sign_test

    assert sign_test(0, 0) == 1.0 and sign_test(5, 5) == 1.0
    assert sign_test(10, 0) == sign_test(0, 10) == pytest.approx(2 / 1024)
    assert sign_test(9, 2) == pytest.approx(2 * (1 + 11 + 55) / 2048)


ZH_REFS = ["本文提出稀疏注意力内核，在两个基准上快三倍。", "作者构建了一个中文数学数据集并评测十个模型。",
           "该方法用强化学习训练检索代理，准确率提高百分之五。", "论文研究长上下文中的位置编码外推问题。",
           "提出一种无需训练的图像编辑方法，保持身份一致。", "作者发布开源语音识别模型，支持二十种语言。"] * 4


def _examples(texts: list[str], first: list[bool]) -> list[dict]:
    from summarizer.evaluate import rouge_l_each

    scores = rouge_l_each(texts, ZH_REFS, "zh")
    return [{"id": str(i), "text": t, "reference": r, "first_pass": f, "rouge_l": s, "passes": 1 if f else 3}
            for i, (t, r, f, s) in enumerate(zip(texts, ZH_REFS, first, scores, strict=True))]


def test_paired_change_is_sure_of_a_real_change_and_not_of_none():
    from summarizer.evaluate import paired_change, paired_lines

    n = len(ZH_REFS)
    base = _examples(["这篇论文很有意思。"] * n, [i % 4 == 0 for i in range(n)])
    tuned = _examples(list(ZH_REFS), [i % 4 != 3 for i in range(n)])
    sure = paired_change(base, tuned, samples=200)
    assert sure["papers"] == n and sure["chrf_change"] == pytest.approx(chrf(ZH_REFS, ZH_REFS)[0] -
                                                                           chrf(["这篇论文很有意思。"] * n, ZH_REFS)[0])
    assert 0 < sure["chrf_interval"][0] <= sure["chrf_change"] <= sure["chrf_interval"][1]
    assert 50 < sure["rouge_l_interval"][0] <= sure["rouge_l_change"] <= sure["rouge_l_interval"][1]
    assert sure["first_pass_only_tuned"] == 12 and sure["first_pass_only_base"] == 0 and sure["first_pass_p"] < 0.001
    assert sure["retries_change"] == pytest.approx(-1.0) and sure["retries_interval"][1] < 0
    json.dumps(sure)  # goes into the report as it is
    same = paired_change(tuned, [dict(e) for e in tuned], samples=200)
    assert same["chrf_change"] == 0 and same["chrf_interval"] == same["rouge_l_interval"] == [0.0, 0.0]
    assert same["first_pass_p"] == 1.0
    assert "retries per paper" in paired_lines(sure) and "retries per paper" not in paired_lines(same)  # none differ
    half = _examples([r if i % 2 else "这篇论文很有意思。" for i, r in enumerate(ZH_REFS)], [True] * n)
    unsure = paired_change(base, half, samples=200)  # a real change, less sure: a wider interval
    width = [x[1] - x[0] for x in (sure["chrf_interval"], unsure["chrf_interval"])]
    assert unsure["chrf_interval"][0] > 0 and width[1] > width[0]
    shuffled = paired_change(list(reversed(base)), tuned, samples=200)  # paired by id, not by position
    assert shuffled == sure
    assert paired_change(base, [{k: v for k, v in e.items() if k != "text"} for e in tuned]) == {}  # an older report
    assert paired_change(base[:3], tuned) == {}  # papers of one missing in the other


def test_a_comparison_puts_base_and_tuned_side_by_side_and_goes_into_the_card(tmp_path):
    from summarizer.evaluate import COMPARED, comparison_table, write_card_comparison

    base = {"model": {"model": "base.gguf"}, "chrf": 20.6, "rouge_l": 18.0, "first_pass_valid": 0.35, "valid": 0.8,
            "retries_per_paper": 1.2, "length_ratio": 1.9, "copied": None, "examples": 40, "split": "validation",
            "dataset": "ds", "retries": 2, "chrf_signature": "nrefs:1"}
    tuned = base | {"model": {"model": "models/tuned"}, "chrf": 24.1, "first_pass_valid": 0.55, "length_ratio": 1.1}
    table = comparison_table(base, tuned)
    assert "| chrF | 20.60 | 24.10 | +3.50 |" in table
    assert "| fully valid, first pass | 35% | 55% | +20% |" in table
    assert "| prose copied from the abstract | – | – | – |" in table
    assert len([line for line in table.splitlines() if line.startswith("| ")]) == len(COMPARED) + 1
    sure = {"papers": 40, "samples": 1000, "chrf_change": 3.5, "chrf_interval": [0.8, 6.1], "rouge_l_change": 4.0,
            "rouge_l_interval": [1.5, 6.25], "retries_change": -0.2, "retries_interval": [-0.4, 0.05],
            "first_pass_only_tuned": 9, "first_pass_only_base": 1,
            "first_pass_p": 0.021}
    assert "How sure" not in table and table == comparison_table(base, tuned, {})
    told = comparison_table(base, tuned, sure)
    assert "chrF change +3.50, 95 % interval +0.80 to +6.10" in told and "+1.50 to +6.25" in told
    assert "retries per paper change -0.20, 95 % interval -0.40 to +0.05" in told
    assert "only when tuned: 9 papers, only the base: 1 (sign test p = 0.021)" in told
    with pytest.raises(SummarizerError, match="has no model card"):
        write_card_comparison(tmp_path, table)
    (tmp_path / "README.md").write_text("# tuned\n\nfacts\n", encoding="utf-8")
    write_card_comparison(tmp_path, table)
    write_card_comparison(tmp_path, table.replace("24.10", "25.00"))  # a second report replaces the first
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# tuned\n\nfacts\n") and card.count("## Compared with its base") == 1 and "25.00" in card


@pytest.mark.slow
def test_eval_against_a_base_writes_the_comparison_into_the_card(tiny_dataset, tiny_model_dir, tmp_path, monkeypatch):
    import shutil

    from summarizer import compose
    from summarizer.cli import app

    monkeypatch.setattr(compose, "ITEM_REDRAWS", 0)
    tuned = tmp_path / "tuned"
    shutil.copytree(tiny_model_dir, tuned)
    (tuned / "README.md").write_text("# tuned\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "--model", str(tuned), "--against", str(tiny_model_dir), "--dataset",
                                      str(tiny_dataset), "--style", "en-bullets", "--limit", "2", "--retries", "1",
                                      "--card", "--out", str(tmp_path / "eval.json")])
    assert result.exit_code == 0, result.output
    assert "| chrF |" in result.output and "| retries per paper |" in result.output
    card = (tuned / "README.md").read_text(encoding="utf-8")
    assert "## Compared with its base" in card and "| papers per minute |" in card
    doc = json.loads((tmp_path / "eval.json").read_text())
    assert doc["compared_with"]["examples"] == doc["examples"] == 2 and doc["retries"] == 1
    assert doc["paired"]["papers"] == 2 and len(doc["compared_with"]["per_example"]) == 2  # the base's replies kept
    assert "How sure, paper by paper on these 2 papers" in result.output
    refused = CliRunner().invoke(app, ["eval", "--dataset", str(tiny_dataset), "--card"])
    assert refused.exit_code == 2 and "--card needs --model" in refused.output


def test_validity_compares_two_runs_paper_by_paper(tmp_path, capsys):
    """scripts/validity.py --compare: the papers both runs wrote, per style, first passes and retries paired by day
    and id; papers without an abstract and papers of one run only are left out."""
    from conftest import load_script

    validity = load_script("validity")

    def record(first: bool, passes: int = 1, status: str = "generated") -> dict:
        valid = first or passes > 1
        return {"fields": {"tldr": "x"} if valid else None, "problems": [] if valid else [{"rule": "format"}],
                "attempt": 0 if first else passes - 1, "passes": passes, "status": status}

    def run(path, days: dict) -> None:
        path.write_text("".join(json.dumps({"style": "zh-digest", "date": day, "records": recs}) + "\n"
                                for day, recs in days.items()), encoding="utf-8")

    run(tmp_path / "base.jsonl", {"2026-01-01": {"a": record(False, 3), "b": record(True), "c": record(False, 2)},
                                  "2026-01-02": {"a": record(True), "n": record(False, 1, "no-abstract")}})
    run(tmp_path / "tuned.jsonl", {"2026-01-01": {"a": record(True), "b": record(True), "c": record(True)},
                                   "2026-01-02": {"a": record(True), "z": record(True)}})
    outcomes = validity.paper_outcomes([json.loads(line) for line in (tmp_path / "base.jsonl").open()])
    assert [e["id"] for e in outcomes["zh-digest"]] == ["2026-01-01/a", "2026-01-01/b", "2026-01-01/c", "2026-01-02/a"]
    validity.compare(tmp_path / "base.jsonl", tmp_path / "tuned.jsonl")
    out = capsys.readouterr().out
    assert out.startswith("zh-digest: 4 papers in both; first pass valid 2 -> 4.")
    assert "retries per paper change -0.75" in out and "only when tuned: 2 papers, only the base: 0" in out
