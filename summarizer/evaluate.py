"""Model evaluation against reference digests: generate for the validation split through the engine, then score
chrF (sacrebleu), ROUGE-L (language-aware tokens), format validity, language, grounding, number faithfulness, speed.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections import Counter
from pathlib import Path

from summarizer import SummarizerError, archive
from summarizer.papers import Paper
from summarizer.prompt import prompt_for_row
from summarizer.styles import STYLES
from summarizer.validate import check_language, check_reply

FORMAT_RULES = ("required", "bullets", "keywords", "scores")  # the layout itself; content rules are scored apart
# A reply that breaks none of these is about its own paper: its terms come from the abstract, and it is no copy of
# the prompt or of the style's example (what a small model writes when it learned the layout but not the task).
ABOUT_RULES = ("grounding", "copy")


# ---- pure metrics

def chrf(hypotheses: list[str], references: list[str]) -> tuple[float, str]:
    """Corpus chrF (character 6-grams; fits Chinese and Korean without a tokenizer) and its sacrebleu signature."""
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return score.score, str(metric.get_signature())


class _Tokens:
    """rouge-score tokenizer: one token per CJK character (zh), else lower-cased whitespace words (ko, en).
    rouge-score's default tokenizer keeps only [a-z0-9], which scores every Chinese/Korean pair 0."""

    def __init__(self, language: str):
        self.language = language

    def tokenize(self, text: str) -> list[str]:
        if self.language == "zh":
            return [c for c in text if not c.isspace()]
        return re.sub(r"[^\w\s]", " ", text.lower()).split()


def rouge_l(hypotheses: list[str], references: list[str], language: str) -> float:
    """Mean ROUGE-L F1 (0–100) with a tokenizer that suits the language."""
    from rouge_score import rouge_scorer

    if not hypotheses:
        return 0.0
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Tokens(language))
    scores = [scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hypotheses, references, strict=True)]
    return 100 * sum(scores) / len(scores)


def judge(style_name: str, text: str, paper: Paper) -> dict:
    """One reply → {"fields", "text" (what is compared), "format_valid", "language_ok", "numbers_ok", "about_paper",
    "rules"}."""
    from summarizer.dataset import reference_text

    st = STYLES[style_name]
    checked = check_reply(st, text, paper)
    if checked.fields is None:
        lang_ok = not check_language(st, {"text": text}, paper)
        return {"fields": None, "text": text.strip(), "format_valid": False, "language_ok": lang_ok,
                "numbers_ok": False, "about_paper": False, "rules": ["format"]}
    rules = sorted({p.rule for p in checked.problems})
    return {"fields": checked.fields, "text": reference_text(st, checked.fields), "rules": rules,
            "format_valid": not set(rules) & set(FORMAT_RULES), "language_ok": "language" not in rules,
            "numbers_ok": "numbers" not in rules, "about_paper": not set(rules) & set(ABOUT_RULES)}


def summarize(judged: list[dict], references: list[str], language: str) -> dict:
    """Corpus numbers from judged replies (pure; rates are 0–1, chrF and ROUGE-L 0–100). `grounded` is the share of
    the format-valid replies that are about their own paper (None when no reply is format-valid)."""
    n = len(judged) or 1
    hyps = [j["text"] for j in judged]
    score, signature = chrf(hyps, references) if judged else (0.0, "")
    shaped = [j for j in judged if j["format_valid"]]
    return {
        "examples": len(judged),
        "chrf": score, "chrf_signature": signature, "rouge_l": rouge_l(hyps, references, language),
        "format_valid": sum(j["format_valid"] for j in judged) / n,
        "fully_valid": sum(not j["rules"] for j in judged) / n,
        "language_ok": sum(j["language_ok"] for j in judged) / n,
        "numbers_ok": sum(j["numbers_ok"] for j in judged) / n,
        "grounded": sum(j["about_paper"] for j in shaped) / len(shaped) if shaped else None,
        "failures": dict(Counter(r for j in judged for r in j["rules"])),
    }


# ---- the run

def evaluate(model: str | None, dataset_dir: str | Path, *, style: str | None = None, limit: int | None = None,
             split: str = "validation", lm=None, config=None) -> dict:
    """Generate for `split` (optionally one style, first `limit` rows) and score against the references."""
    from summarizer import compose, engine
    from summarizer import dataset as ds

    dd = ds.load(dataset_dir)
    if split not in dd:
        raise SummarizerError(f"The dataset {dataset_dir} has no {split!r} split.")
    rows = [r for r in dd[split] if style is None or r["style"] == style][: limit or None]
    if not rows:
        raise SummarizerError(f"The {split} split of {dataset_dir} has no rows" + (f" of style {style}." if style else "."))
    styles = sorted({r["style"] for r in rows})
    if len({STYLES[s].language for s in styles}) > 1:
        raise SummarizerError(f"The {split} split mixes languages ({', '.join(styles)}); pass --style.")
    lm = lm or engine.load_model(model)
    if config is None:
        config = dataclasses.replace(lm.generation, max_new_tokens=max(STYLES[s].max_new_tokens for s in styles),
                                     progress=False)
    # The same prompts as training and `summarizer digest`, written the same way (section by section where the
    # digest does so); rows of one style per write.
    prompts = [prompt_for_row(r) for r in rows]
    started = time.perf_counter()
    gens = [None] * len(rows)
    for name in styles:
        mine = [i for i, r in enumerate(rows) if r["style"] == name]
        for i, g in zip(mine, compose.write(lm, STYLES[name], [prompts[i] for i in mine], config), strict=True):
            gens[i] = g
    wall = time.perf_counter() - started
    judged = []
    for r, g in zip(rows, gens, strict=True):
        paper = Paper(id=r["id"], title=r["title"], abstract=r["abstract"], date=r["date"] or "")
        judged.append(judge(r["style"], g.text, paper) | {"id": r["id"], "raw": g.text, "finished": g.finished,
                                                          "completion_tokens": g.completion_tokens})
    result = summarize(judged, [r["reference"] for r in rows], STYLES[styles[0]].language)
    tokens = sum(g.completion_tokens for g in gens)
    result.update({
        "model": dict(lm.provenance), "dataset": str(dataset_dir), "split": split, "styles": styles,
        "generation": dataclasses.asdict(config), "seconds": wall, "generated_tokens": tokens,
        "tokens_per_second": tokens / wall if wall else 0.0,
        "finished_rate": sum(g.finished for g in gens) / len(gens),
        "per_example": [{k: j[k] for k in ("id", "format_valid", "language_ok", "numbers_ok", "about_paper", "rules",
                                           "finished", "completion_tokens", "raw")} for j in judged],
    })
    return result


def markdown_table(result: dict) -> str:
    """The headline numbers as a Markdown table (rates as %)."""
    rows = [
        ("model", f"`{result['model'].get('model')}`"), ("examples", result["examples"]),
        ("chrF", f"{result['chrf']:.2f}"), ("ROUGE-L (F1)", f"{result['rouge_l']:.2f}"),
        ("format valid", f"{result['format_valid']:.0%}"), ("fully valid", f"{result['fully_valid']:.0%}"),
        ("language correct", f"{result['language_ok']:.0%}"), ("numbers faithful", f"{result['numbers_ok']:.0%}"),
        ("about its own paper (of format valid)", "–" if result.get("grounded") is None else f"{result['grounded']:.0%}"),
        ("stopped before max_new_tokens", f"{result['finished_rate']:.0%}"),
        ("generated tokens/s (whole run)", f"{result['tokens_per_second']:.1f}"),
    ]
    body = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return f"| metric | value |\n|---|---|\n{body}\n\nchrF signature: `{result['chrf_signature']}`\n"


def write_report(result: dict, out: str | Path) -> tuple[Path, Path]:
    """`out` as JSON (every number and per-example outcome) and `out` with .md: the table."""
    out = Path(out)
    json_path = out if out.suffix == ".json" else out.with_suffix(".json")
    md_path = json_path.with_suffix(".md")
    archive.write_atomic(json_path, json.dumps(result, ensure_ascii=False, indent=1))
    archive.write_atomic(md_path, markdown_table(result))
    return json_path, md_path
