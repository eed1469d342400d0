"""How good a digest is, beyond valid: per-paper and per-digest signals a rule can count, and closeness to a
reference summary of the same paper.

Pure functions over a sidecar document (see sidecar.py) and reference texts keyed by arXiv id; `load_references`
(the one I/O function) reads them from daily-arXiv-ai-enhanced JSONL or from another run's sidecar with the
dataset reader. `summarizer quality` prints `report_table`; `summarizer digest` prints `headline` for its style.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from pathlib import Path

from summarizer import SummarizerError
from summarizer.evaluate import chrf, rouge_l
from summarizer.papers import Paper, normalize_id
from summarizer.prompt import parse_output
from summarizer.sidecar import Record
from summarizer.styles import EXAMPLE_PAPERS, SCORE_LABELS, STYLES, Style
from summarizer.text import one_line
from summarizer.validate import (
    ANCHOR,
    DUPLICATE,
    ITEM_HEADING,
    ITEM_LABEL,
    NUMBER,
    SHINGLE_TOKEN,
    URL,
    _fold,
    _lists,
    _texts,
    abstract_fragments,
    broken_words,
    misspellings,
    numbers,
    prose,
    similarity,
)

COPY_RUN = 6  # tokens (Latin words, CJK characters, Hangul syllables): a shared run this long is copied, not a term

# The two or three signals that matter most for a style, named by `summarizer digest` in its last summary line: what
# a reader of that style's page notices first (scores that mean nothing, the same heading thrice, a word broken
# between scripts, a bullet that is a piece of the abstract).
STYLE_SIGNALS: dict[str, tuple[str, ...]] = {
    "zh-digest": ("example_scores", "top_triple", "coverage"),
    "zh-details": ("repeated", "misspelled", "coverage"),
    "zh-notes": ("repeated", "coverage"),
    "zh-tldr": ("coverage", "misspelled"),
    "ko-bullets": ("broken", "copied", "coverage"),
    "en-bullets": ("fragments", "copied", "coverage"),
    "ko-translate": ("coverage", "broken"),
    "zh-translate": ("coverage", "misspelled"),
}

# How each per-digest signal reads in a summary line (n = valid papers judged).
_SAY = {
    "example_scores": lambda d: f"scores equal to the example shown {d['example_scores']}/{d['scored']}",
    "top_triple": lambda d: f"most common score triple {d['top_triple'] or '–'} on {d['top_triple_papers']}/{d['scored']}",
    "coverage": lambda d: f"abstract terms covered {_pct(d['coverage'])}",
    "repeated": lambda d: f"papers with repeated headings or items {d['repeated']}/{d['judged']}",
    "misspelled": lambda d: f"papers with a misspelled name {d['misspelled']}/{d['judged']}",
    "broken": lambda d: f"papers with a word broken between scripts {d['broken']}/{d['judged']}",
    "fragments": lambda d: f"papers with an abstract fragment as a bullet {d['fragments']}/{d['judged']}",
    "copied": lambda d: f"prose copied from the abstract {_pct(d['copied'])}",
}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


# ---- one paper

def example_scores(style: Style, reply: str) -> tuple[int, ...] | None:
    """The score triple of an example reply of `style` (None for a style without scores)."""
    if not any(f.kind == "scores" for f in style.fields) or not reply:
        return None
    return score_triple(style, parse_output(style, reply))


def score_triple(style: Style, fields: dict) -> tuple[int, ...] | None:
    """(实用性, 创新性, 推荐度) of the fields, or None when the style has no scores or one is missing."""
    for f in style.fields:
        if f.kind == "scores" and isinstance(value := fields.get(f.name), dict):
            triple = tuple(value.get(k, {}).get("score") if isinstance(value.get(k), dict) else None
                           for k in SCORE_LABELS)
            return None if None in triple else triple
    return None


def copied(text: str, abstract: str) -> tuple[float, int]:
    """(share of the prose's tokens inside a run of COPY_RUN+ tokens that the abstract holds word for word, the
    longest such run in tokens)."""
    tokens, source = SHINGLE_TOKEN.findall(text.lower()), SHINGLE_TOKEN.findall(abstract.lower())
    if not tokens or not source:
        return 0.0, 0
    grams = {tuple(source[i:i + COPY_RUN]) for i in range(len(source) - COPY_RUN + 1)}
    covered = [False] * len(tokens)
    for i in range(len(tokens) - COPY_RUN + 1):
        if tuple(tokens[i:i + COPY_RUN]) in grams:
            covered[i:i + COPY_RUN] = [True] * COPY_RUN
    longest = difflib.SequenceMatcher(None, tokens, source, autojunk=False).find_longest_match(
        0, len(tokens), 0, len(source)).size
    return sum(covered) / len(tokens), longest


def repeated_items(style: Style, fields: dict) -> list[str]:
    """Items of one list that repeat an earlier item's heading ("挑战1: 块大小限制: ..." thrice, the validator's
    `repeated_heading`) or say nearly the same as an earlier item."""
    out = []
    for _, items in _lists(style, fields, "list"):
        seen: list[str] = []
        heads: set[str] = set()
        for item in map(str, items):
            m = ITEM_HEADING.match(ITEM_LABEL.sub("", item))
            head = " ".join(m.group("head").lower().split()) if m else None
            if (head and head in heads) or any(similarity(item, s) >= DUPLICATE or item == s for s in seen):
                out.append(item)
            if head:
                heads.add(head)
            seen.append(item)
    return out


def key_terms(paper: Paper) -> list[str]:
    """What of the abstract a summary should carry whatever its language: its names (acronyms, CamelCase words) and
    its numbers, in order, each once."""
    source = URL.sub(" ", f"{paper.title} {paper.abstract}")
    names = [n for n in ANCHOR.findall(source) if len(n) >= 2]
    nums = [raw + unit for raw, unit in NUMBER.findall(URL.sub(" ", paper.abstract))]
    return list(dict.fromkeys(names + nums))


def coverage(text: str, paper: Paper) -> float | None:
    """Share of `key_terms` the prose holds (a name folded, a number in any of its spellings); None without any."""
    terms = key_terms(paper)
    if not terms:
        return None
    words = {_fold(w) for w in re.findall(r"[A-Za-z][A-Za-z0-9_-]*", text)}
    nums = numbers(text)
    held = sum(bool(numbers(t) & nums) if t[0].isdigit() else _fold(t) in words for t in terms)
    return held / len(terms)


def paper_quality(style: Style, fields: dict, paper: Paper, *, example: str = "",
                  reference: str | None = None) -> dict:
    """One summary's signals (`example`: the example reply it was shown; `reference`: another summary of the
    same paper to compare with)."""
    text = prose(fields)
    share, longest = copied(text, paper.abstract)
    triple = score_triple(style, fields)
    shown = example_scores(style, example)
    out = {
        "scores": triple, "example_scores": None if triple is None or shown is None else triple == shown,
        "copied": share, "longest_copy": longest, "repeated": repeated_items(style, fields),
        "misspelled": [f"{w} ({n})" for w, n in misspellings(" ".join(_texts(fields)), paper)],
        "broken": broken_words(text, paper),
        "fragments": [i for _, items in _lists(style, fields, "list") for i in abstract_fragments(items, paper)],
        "coverage": coverage(text, paper), "chrf": None, "rouge_l": None,
    }
    if reference:
        from summarizer.dataset import reference_text

        hyp = reference_text(style, fields)
        out["chrf"] = chrf([hyp], [reference])[0]
        out["rouge_l"] = rouge_l([hyp], [reference], style.language)
    return out


def flaws(style: Style, fields: dict, paper: Paper, *, example: str = "") -> list[str]:
    """What a reader would not keep in one valid summary, each in a few words ([] for none): its scores equal to the
    example reply it was shown (`example`), a word broken between scripts, a repeated heading or item, a piece of the
    abstract as a list item, a misspelled name. Shares (copied prose, coverage) are judged over a digest, not here.
    `summarizer dataset` keeps no row with a flaw: a model trained on its own replies learns what they hold."""
    q = paper_quality(style, fields, paper, example=example)
    out = [f"scores {'/'.join(map(str, q['scores']))} equal to the example's"] if q["example_scores"] else []
    out += [f"word broken between scripts ({w})" for w in q["broken"][:1]]
    out += [f"repeated item ({one_line(i, 40)})" for i in q["repeated"][:1]]
    out += [f"abstract fragment as an item ({one_line(i, 40)})" for i in q["fragments"][:1]]
    out += [f"misspelled name {w}" for w in q["misspelled"][:1]]
    return out


# ---- one digest

def digest_quality(doc: dict, references: dict[str, str] | None = None, source: str = "") -> dict:
    """A sidecar document → {"date", "style", "model", "papers": [per paper], "digest": {per-digest numbers}}.
    Per-digest numbers are over the valid papers (what reaches the reader); chrF and ROUGE-L over the valid papers
    that have a reference (corpus chrF)."""
    from summarizer import sidecar
    from summarizer.dataset import reference_text

    style = STYLES.get(doc.get("style"))
    if style is None or not isinstance(doc.get("papers"), list):
        raise SummarizerError(f"The sidecar {source} is not a digest sidecar (no known style or papers list).")
    records = sidecar.records(doc, source)
    references = references or {}
    rows, hyps, refs = [], [], []
    for d in doc["papers"]:
        paper = Paper.from_dict(d)
        rec: Record | None = records.get(paper.id)
        if rec is None or not rec.fields or paper.repeat_of:
            continue
        ref = references.get(normalize_id(paper.id) or paper.id)
        q = paper_quality(style, rec.fields, paper, example=shown_example(style, rec), reference=ref)
        rows.append({"id": paper.id, "title": paper.title, "valid": rec.valid} | q)
        if rec.valid and ref:
            hyps.append(reference_text(style, rec.fields))
            refs.append(ref)
    return {"sidecar": source, "date": doc.get("date"), "style": style.name,
            "model": (doc.get("provenance") or {}).get("model", {}).get("model"),
            "papers": rows, "digest": summary(rows, hyps, refs, style.language)}


def shown_example(style: Style, rec: Record) -> str:
    """The example reply the paper's prompt showed, by the example paper's name the record holds ("" for none; an
    older record without the name showed the first example)."""
    names = [e.name for e in EXAMPLE_PAPERS]
    if rec.example in names and names.index(rec.example) < len(style.examples):
        return style.examples[names.index(rec.example)]
    return "" if rec.example else style.example


def summary(rows: list[dict], hyps: list[str], refs: list[str], language: str) -> dict:
    """Per-digest numbers over the valid rows (pure)."""
    valid = [r for r in rows if r["valid"]]
    triples = Counter(r["scores"] for r in valid if r["scores"] is not None)
    top = triples.most_common(1)[0] if triples else (None, 0)
    covered = [r["coverage"] for r in valid if r["coverage"] is not None]

    def mean(xs: list[float]) -> float | None:
        return sum(xs) / len(xs) if xs else None

    return {
        "written": len(rows), "judged": len(valid), "scored": sum(triples.values()),
        "example_scores": sum(bool(r["example_scores"]) for r in valid),
        "score_triples": len(triples), "top_triple": "/".join(map(str, top[0])) if top[0] else None,
        "top_triple_papers": top[1],
        "copied": mean([r["copied"] for r in valid]), "longest_copy": max((r["longest_copy"] for r in valid), default=0),
        **{k: sum(bool(r[k]) for r in valid) for k in ("repeated", "misspelled", "broken", "fragments")},
        "coverage": mean(covered),
        "references": len(refs), "chrf": chrf(hyps, refs)[0] if refs else None,
        "rouge_l": rouge_l(hyps, refs, language) if refs else None,
    }


def one_triple_day(report: dict) -> str | None:
    """The defect of a day whose valid papers (two or more) all carry one score triple, said in a sentence."""
    d = report["digest"]
    if d["scored"] >= 2 and d["score_triples"] == 1:
        return (f"all {d['scored']} valid papers carry the score triple {d['top_triple']}: the scores do not tell "
                "the papers apart.")
    return None


def headline(report: dict) -> str:
    """The style's STYLE_SIGNALS as one line, e.g. "quality: scores equal to the example shown 0/6, ..."."""
    d = report["digest"]
    return "quality: " + ", ".join(_SAY[s](d) for s in STYLE_SIGNALS[report["style"]]) + "."


def report_table(report: dict) -> str:
    """A digest's report as Markdown: one row per paper, then the per-digest numbers."""
    def num(x, fmt="{:.1f}"):
        return "–" if x is None else fmt.format(x)

    head = ("| paper | valid | chrF | ROUGE-L | scores | = example | copied | covered | repeated | misspelled | "
            "broken | fragments |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in report["papers"]:
        lines.append(" | ".join([
            f"| {r['id']}", "yes" if r["valid"] else "no", num(r["chrf"]), num(r["rouge_l"]),
            "/".join(map(str, r["scores"])) if r["scores"] else "–",
            "–" if r["example_scores"] is None else ("yes" if r["example_scores"] else "no"),
            _pct(r["copied"]), _pct(r["coverage"]), str(len(r["repeated"])),
            ", ".join(r["misspelled"]) or "–", ", ".join(r["broken"]) or "–", str(len(r["fragments"])),
        ]) + " |")
    d = report["digest"]
    said = [f"{report['style']} {report['date']} ({report['model'] or 'unknown model'}): {d['judged']} valid of "
            f"{d['written']} written",
            *(_SAY[k](d) for k in _SAY),
            f"score triples {d['score_triples']}",
            f"references {d['references']}, chrF {num(d['chrf'])}, ROUGE-L {num(d['rouge_l'])}"]
    defect = one_triple_day(report)
    return "\n".join(lines) + "\n\n" + "; ".join(said) + "." + (f"\n\ndefect: {defect}" if defect else "") + "\n"


# ---- references (the I/O edge)

def load_references(paths: list[str | Path]) -> dict[str, str]:
    """arXiv id → the reference summary's prose, from daily-arXiv-ai-enhanced JSONL or another run's sidecar (read as
    `summarizer dataset` reads them); entries that give no summary (failed, repeated, incomplete) are left out."""
    from summarizer.dataset import digest_files, read_digest, reference_text

    out: dict[str, str] = {}
    for path in digest_files(paths):
        for entry, _paper in read_digest(path):
            if entry.skip is None and entry.id and entry.fields:
                out.setdefault(normalize_id(entry.id) or entry.id, reference_text(STYLES[entry.style], entry.fields))
    return out
