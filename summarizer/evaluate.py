"""Model evaluation against reference digests: generate for the validation split through the engine, then score
chrF (sacrebleu), ROUGE-L (language-aware tokens), format validity, language, grounding, number faithfulness, speed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from collections import Counter
from pathlib import Path

from summarizer import SummarizerError, archive
from summarizer.papers import Paper
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


def rouge_l_each(hypotheses: list[str], references: list[str], language: str) -> list[float]:
    """ROUGE-L F1 (0–100) of each hypothesis against its reference, with a tokenizer that suits the language."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Tokens(language))
    return [100 * scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hypotheses, references, strict=True)]


def rouge_l(hypotheses: list[str], references: list[str], language: str) -> float:
    """Mean ROUGE-L F1 (0–100)."""
    scores = rouge_l_each(hypotheses, references, language)
    return sum(scores) / len(scores) if scores else 0.0


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test: how likely a split at least this uneven is when either side is equally likely (the
    papers only one of two models got right; ties carry no information)."""
    n, k = wins + losses, min(wins, losses)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def _pairs(base: list[dict], tuned: list[dict], needs: tuple[str, ...] = ()) -> list[tuple[dict, dict]]:
    """(base, tuned) records of the same papers, matched by `id`; [] unless both hold the same papers, each with
    every key of `needs`."""
    by_id = {e["id"]: e for e in base}
    pairs = [(by_id[e["id"]], e) for e in tuned if e["id"] in by_id]
    if len(pairs) != len(tuned) or len(by_id) != len(tuned) or any(k not in e for p in pairs for e in p for k in needs):
        return []
    return pairs


def _resamples(papers: int, samples: int, seed: int):
    """The papers each bootstrap resample draws (with replacement), one row a resample; a fixed seed, so a report
    gives the same intervals each time."""
    import numpy as np

    return np.random.default_rng(seed).integers(0, papers, size=(samples, papers))


def _interval(changes) -> list[float]:
    import numpy as np

    return [float(np.percentile(changes, 2.5)), float(np.percentile(changes, 97.5))]


def paired_validity(base: list[dict], tuned: list[dict], samples: int = 1000, seed: int = 12345) -> dict:
    """How sure a change in validity is, from two runs over the same papers (records with `id`, `first_pass` and
    `passes`): the papers only one model wrote fully valid on the first pass, with a sign test, and the change in
    retries per paper with a 95 % paired-bootstrap interval (one resample draws the same papers for both models).
    Pure; {} when the runs do not hold the same papers."""
    import numpy as np

    pairs = _pairs(base, tuned, ("first_pass", "passes"))
    if not pairs:
        return {}
    retries = np.array([max(b["passes"] - 1, 0) - max(a["passes"] - 1, 0) for a, b in pairs], dtype=float)
    wins = sum(bool(b["first_pass"] and not a["first_pass"]) for a, b in pairs)
    losses = sum(bool(a["first_pass"] and not b["first_pass"]) for a, b in pairs)
    return {
        "papers": len(pairs), "samples": samples,
        "first_pass_only_tuned": wins, "first_pass_only_base": losses, "first_pass_p": sign_test(wins, losses),
        "retries_change": float(retries.mean()),
        "retries_interval": _interval(retries[_resamples(len(pairs), samples, seed)].mean(axis=1)),
    }


def paired_change(base: list[dict], tuned: list[dict], samples: int = 1000, seed: int = 12345) -> dict:
    """paired_validity, and the chrF and ROUGE-L changes with their 95 % paired-bootstrap intervals, from two
    evaluations of the same papers (their `per_example` lists, which also hold `text`, `reference` and `rouge_l`).
    Pure; {} when the lists do not hold the same papers."""
    import numpy as np
    from sacrebleu.metrics import CHRF

    pairs = _pairs(base, tuned, ("text", "reference", "rouge_l", "first_pass", "passes"))
    if not pairs:
        return {}
    draws = _resamples(len(pairs), samples, seed)
    # Corpus chrF of a resample from the papers' character n-gram counts, as sacrebleu.significance computes it
    # (its PairedTest gives a p-value, which is the smallest possible for two identical systems, not an interval).
    metric, refs = CHRF(), [[b["reference"] for _, b in pairs]]
    counts = [np.array(metric._extract_corpus_statistics([e["text"] for e in side], refs), dtype=float)
              for side in zip(*pairs, strict=True)]

    def chrf_of(rows: np.ndarray) -> float:
        return metric._compute_score_from_stats(rows.sum(axis=0)).score

    rouge = np.array([b["rouge_l"] - a["rouge_l"] for a, b in pairs])
    return paired_validity(base, tuned, samples, seed) | {
        "chrf_change": chrf_of(counts[1]) - chrf_of(counts[0]),
        "chrf_interval": _interval([chrf_of(counts[1][d]) - chrf_of(counts[0][d]) for d in draws]),
        "rouge_l_change": float(rouge.mean()), "rouge_l_interval": _interval(rouge[draws].mean(axis=1)),
    }


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
             split: str = "validation", lm=None, config=None, retries: int = 0) -> dict:
    """Generate for `split` (optionally one style, first `limit` rows) as `summarizer digest` does — the same prompts,
    section rounds, redraws and, with `retries`, its retries — and score against the references."""
    from summarizer import dataset as ds
    from summarizer import digest, engine, quality

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
    papers = [Paper(id=r["id"], title=r["title"], abstract=r["abstract"], date=r["date"] or "") for r in rows]
    records: dict[str, dict] = {name: {} for name in styles}  # per style: a paper may be a row of two styles
    started = time.perf_counter()
    for name in styles:
        mine = [p for p, r in zip(papers, rows, strict=True) if r["style"] == name]
        digest.summarize(lm, STYLES[name], config, mine, records[name], retries, None)
    wall = time.perf_counter() - started
    recs = [records[r["style"]][p.id] for p, r in zip(papers, rows, strict=True)]
    judged = []
    for r, paper, rec in zip(rows, papers, recs, strict=True):
        judged.append(judge(r["style"], rec.raw or "", paper) | {
            "id": r["id"], "raw": rec.raw, "finished": rec.finished, "completion_tokens": rec.completion_tokens,
            "first_pass": rec.valid and rec.attempt == 0, "passes": rec.passes, "rounds": rec.rounds})
    references = [r["reference"] for r in rows]
    result = summarize(judged, references, STYLES[styles[0]].language)
    each = rouge_l_each([j["text"] for j in judged], references, STYLES[styles[0]].language)
    for j, ref, score in zip(judged, references, each, strict=True):
        j.update(reference=ref, rouge_l=score)
    tokens = sum(rec.completion_tokens for rec in recs)
    signals = [quality.paper_quality(STYLES[r["style"]], rec.fields, paper) for r, paper, rec
               in zip(rows, papers, recs, strict=True) if rec.valid]
    n = len(rows)
    result.update({
        "model": dict(lm.provenance), "dataset": str(dataset_dir), "split": split, "styles": styles,
        "generation": dataclasses.asdict(config), "seconds": wall, "generated_tokens": tokens,
        "tokens_per_second": tokens / wall if wall else 0.0, "papers_per_minute": 60 * n / wall if wall else 0.0,
        "finished_rate": sum(rec.finished for rec in recs) / n, "retries": retries,
        "first_pass_valid": sum(j["first_pass"] for j in judged) / n, "valid": sum(rec.valid for rec in recs) / n,
        "retries_per_paper": sum(max(rec.passes - 1, 0) for rec in recs) / n,
        "rounds_per_paper": sum(rec.rounds for rec in recs) / n,
        # Reply length against the references' (characters of the compared text): 1.0 = as long.
        "length_ratio": sum(len(j["text"]) for j in judged) / max(sum(len(r["reference"]) for r in rows), 1),
        "copied": sum(q["copied"] for q in signals) / len(signals) if signals else None,
        **{k: sum(bool(q[k]) for q in signals) for k in ("repeated", "misspelled", "broken", "fragments")},
        "per_example": [{k: j[k] for k in ("id", "format_valid", "language_ok", "numbers_ok", "about_paper", "rules",
                                           "finished", "completion_tokens", "first_pass", "passes", "rounds", "raw", "text",
                                           "reference", "rouge_l")}
                        for j in judged],
    })
    return result


def paired_lines(paired: dict) -> str:
    """What paired_change found, in words for the report and the card ("" when it found nothing)."""
    if not paired:
        return ""
    def change(label: str, key: str) -> str:
        lo, hi = paired[f"{key}_interval"]
        return f"{label} change {paired[f'{key}_change']:+.2f}, 95 % interval {lo:+.2f} to {hi:+.2f}"

    # Retries are left out where no paper's differ (a run without retries): an interval of 0 to 0 says nothing.
    told = [("chrf", "chrF"), ("rouge_l", "ROUGE-L")]
    if paired.get("retries_change") or any(paired.get("retries_interval", ())):
        told.append(("retries", "retries per paper"))
    parts = [change(label, key) for key, label in told if f"{key}_change" in paired]
    parts.append(f"fully valid on the first pass only when tuned: {paired['first_pass_only_tuned']} papers, only the "
                 f"base: {paired['first_pass_only_base']} (sign test p = {paired['first_pass_p']:.3f})")
    return (f"How sure, paper by paper on these {paired['papers']} papers ({paired['samples']} paired bootstrap "
            f"resamples): {'; '.join(parts)}.\n")


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


# (label, key, format) of the numbers a base and its fine-tune are compared on; rates are 0-1.
COMPARED = [
    ("chrF", "chrf", "{:.2f}"), ("ROUGE-L (F1)", "rouge_l", "{:.2f}"),
    ("fully valid, first pass", "first_pass_valid", "{:.0%}"), ("valid after retries", "valid", "{:.0%}"),
    ("retries per paper", "retries_per_paper", "{:.2f}"), ("engine rounds per paper", "rounds_per_paper", "{:.1f}"),
    ("reply length / reference length", "length_ratio", "{:.2f}"), ("prose copied from the abstract", "copied", "{:.0%}"),
    ("valid papers with repeated items", "repeated", "{}"), ("valid papers with a misspelled name", "misspelled", "{}"),
    ("valid papers with a word broken between scripts", "broken", "{}"),
    ("valid papers with an abstract fragment as a bullet", "fragments", "{}"),
    ("papers per minute", "papers_per_minute", "{:.2f}"),
]


def comparison_table(base: dict, tuned: dict, paired: dict | None = None) -> str:
    """Two evaluations of the same rows side by side, with the change (tuned − base), and how sure it is."""
    def cell(result: dict, key: str, fmt: str) -> str:
        v = result.get(key)
        return "–" if v is None else fmt.format(v)

    lines = [f"| metric | base `{base['model'].get('model')}` | tuned `{tuned['model'].get('model')}` | change |",
             "|---|---|---|---|"]
    for label, key, fmt in COMPARED:
        a, b = base.get(key), tuned.get(key)
        change = "–" if a is None or b is None else (f"{b - a:+.0%}" if "%" in fmt else f"{b - a:+.2f}")
        lines.append(f"| {label} | {cell(base, key, fmt)} | {cell(tuned, key, fmt)} | {change} |")
    lines.append(f"\n{tuned['examples']} papers of the {tuned['split']} split of `{tuned['dataset']}`, retries "
                 f"{tuned['retries']}; chrF signature `{tuned['chrf_signature']}`.")
    return "\n".join(lines) + "\n" + ("\n" + paired_lines(paired) if paired else "")


def write_card_comparison(model_dir: str | Path, table: str) -> Path:
    """The comparison as the "Compared with its base" section of a tuned model's card (README.md), replacing an
    earlier one."""
    card = Path(model_dir) / "README.md"
    if not card.exists():
        raise SummarizerError(f"{model_dir} has no model card (README.md): pass the directory `summarizer finetune` "
                              "wrote.")
    text = card.read_text(encoding="utf-8").split("\n## Compared with its base\n")[0].rstrip()
    archive.write_atomic(card, f"{text}\n\n## Compared with its base\n\n{table}")
    return card


def write_report(result: dict, out: str | Path) -> tuple[Path, Path]:
    """`out` as JSON (every number and per-example outcome) and `out` with .md: the table."""
    out = Path(out)
    json_path = out if out.suffix == ".json" else out.with_suffix(".json")
    md_path = json_path.with_suffix(".md")
    archive.write_atomic(json_path, json.dumps(result, ensure_ascii=False, indent=1))
    archive.write_atomic(md_path, markdown_table(result))
    return json_path, md_path
