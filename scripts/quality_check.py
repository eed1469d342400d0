"""The validator measured both ways: refusals of honest summaries, and catches of planted defects, per rule and style.

    .venv/bin/python scripts/quality_check.py DIR_OR_JSONL...      (or: make quality-check ARGS="DIR...")

Honest summaries are daily-arXiv-ai-enhanced rows (a large model's Chinese TLDR/motivation/method/result/conclusion,
with the paper's abstract), read with the dataset reader and mapped into each summary style's fields (`honest`,
documented in docs/quality.md). Every rule (validate.check_reply, on the reply format_output writes for the fields)
runs over (a) the honest fields: refusals per rule and style; (b) the same fields with one planted defect each
(`DEFECTS`): catches per defect kind and style, counted on the papers whose honest fields passed. Prints two
Markdown tables; --json writes every count.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from summarizer import quality  # noqa: E402
from summarizer.dataset import digest_files, read_digest  # noqa: E402
from summarizer.papers import Paper  # noqa: E402
from summarizer.prompt import example_for, format_output, parse_output  # noqa: E402
from summarizer.styles import SCORE_LABELS, STYLES, Style  # noqa: E402
from summarizer.text import CJK  # noqa: E402
from summarizer.validate import ANCHOR, SENTENCE, _texts, check_reply  # noqa: E402

# Words of each example paper's topic as a summary in each language would write them (TinyFlow's as the 0.5B model
# carried them into other papers: "高效光流网络解码器", "흐름 추정", "광학 흐름 네트워크"). Data for planting the
# "example_topic" defect only; no rule reads it.
TOPIC = {
    "TinyFlow": {"zh": "光流网络", "ko": "광학 흐름 네트워크", "en": "optical flow channels"},
    "QuillScore": {"zh": "手写解答的评分", "ko": "수학 풀이 단계", "en": "handwritten homework solutions"},
    "Choral": {"zh": "合唱录音的声音", "ko": "합창 녹음의 목소리", "en": "choir recordings of singers"},
}


# ---- honest fields: a zh-tldr row mapped into each style

LATIN_NAME = re.compile(r"[A-Za-z]*[A-Z][a-z]*[A-Z0-9][A-Za-z0-9-]*")  # "WorldGrow", "Qwen2-VL", "LLM"
ABSTRACT_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")  # "e.g. the" and "(i.e., x)" end no sentence


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE.findall(text) if len(s.strip()) > 1]


def _keywords(paper: Paper, fields: dict) -> list[str]:
    """Five "English (中文)" keywords: the abstract's names the prose uses, each with the Chinese written right
    after it in the prose (else "术语"), then the title's and the abstract's longer words."""
    text = " ".join(fields.values())
    out: list[str] = []
    for name in dict.fromkeys([*LATIN_NAME.findall(text), *re.findall(r"[A-Z][a-z]{3,}", paper.title),
                               *re.findall(r"[a-z]{6,}", paper.abstract)]):
        at = text.find(name)
        zh = m.group(0)[:4] if at >= 0 and (m := re.match(f"(?:{CJK.pattern})+", text[at + len(name):])) else "术语"
        out.append(f"{name} ({zh})")
    return out[:5]


def _scores(pid: str, fields: dict) -> dict:
    """An invented, varied score triple per paper (a hash of its id), each reason a sentence of the summary."""
    h = hashlib.sha256(pid.encode()).digest()
    reasons = [sentences(fields["conclusion"])[0], sentences(fields["method"])[0], sentences(fields["motivation"])[0]]
    return {k: {"score": 2 + h[i] % 4, "reason": r} for i, (k, r) in enumerate(zip(SCORE_LABELS, reasons, strict=True))}


def honest(style: Style, paper: Paper, t: dict) -> dict | None:
    """A zh-tldr row's fields `t` mapped into `style`'s layout; None where no mapping is honest (Korean, translations)."""
    items = lambda text, most: sentences(text)[:most] or [text]  # noqa: E731
    if style.name == "zh-tldr":
        return dict(t)
    if style.name == "zh-digest":
        return {"work": t["tldr"], "highlights": items(t["result"], 5), "keywords": _keywords(paper, t),
                "scores": _scores(paper.id, t)}
    if style.name == "zh-details":
        motivation = sentences(t["motivation"])
        return {"background": motivation[0], "prior_work": " ".join(motivation[1:]) or "摘要未提及。",
                "contribution": re.split(r"[，。；]", t["tldr"])[0], "challenges": items(t["method"], 4), "implementation": t["result"],
                "summary": t["conclusion"]}
    if style.name == "zh-notes":
        # Tags: the keywords' Chinese halves of 2+ characters, then 4-character runs of the tldr
        halves = [k.split(" (")[1].rstrip(")") for k in _keywords(paper, t)]
        runs = [r[:4] for r in re.findall(f"(?:{CJK.pattern}){{4,}}", t["tldr"])]
        tags = list(dict.fromkeys(h for h in halves + runs if len(h) >= 2 and h != "术语"))[:6]
        return {"title_zh": re.split(r"[，。]", t["tldr"])[0], "tags": tags if len(tags) >= 2 else tags + ["论文"],
                "goal": t["motivation"], "method": items(t["method"], 5), "findings": items(t["result"], 5),
                "conclusion": t["conclusion"]}
    if style.name == "en-bullets":  # extractive: the abstract's first, middle and last sentences, whole
        s = [x for x in ABSTRACT_SENTENCE.split(paper.abstract) if x.strip()]
        return {"bullets": [s[0], s[len(s) // 2], s[-1]]} if len(s) >= 3 else None
    return None


def rows(paths: list[str]) -> list[tuple[Paper, dict]]:
    """(paper, zh-tldr fields) of every complete daily-arXiv-ai-enhanced row under `paths`, each paper once."""
    seen: dict[str, tuple[Paper, dict]] = {}
    for path in digest_files(paths):
        if path.suffix != ".jsonl":
            continue
        for entry, paper in read_digest(path):
            if entry.skip is None and paper is not None and entry.id:
                seen.setdefault(entry.id, (paper, entry.fields))
    return list(seen.values())


# ---- planted defects: each takes honest fields and returns them broken, or None where it does not apply

def _last_text(style: Style) -> str | None:
    return next((f.name for f in reversed(style.fields) if f.kind == "text" and not f.restates), None)


def _add(style: Style, fields: dict, sentence: str) -> dict:
    """`sentence` appended to the last paragraph, else as the last list item."""
    out = json.loads(json.dumps(fields))
    if (name := _last_text(style)) is not None:
        out[name] = f"{out[name]}{'' if style.language != 'en' else ' '}{sentence}"
    else:
        lst = next(f for f in style.fields if f.kind == "list")
        out[lst.name] = [*out[lst.name][: lst.max_items - 1], sentence]
    return out


def example_line(style, fields, paper, ctx):
    shown = parse_output(style, ctx["example"])
    texts = [t for t in _texts(shown, skip=tuple(f.name for f in style.fields if f.kind == "keywords"))]
    return _add(style, fields, max(texts, key=len))


def example_topic(style, fields, paper, ctx):
    topic = TOPIC.get(ctx["example_name"], {}).get(style.language)
    if not topic or topic.split()[0].lower() in paper.abstract.lower():
        return None
    said = {"zh": f"该方法也用于{topic}。", "ko": f"이 방법은 {topic}에도 쓰입니다.", "en": f"It also handles {topic}."}
    return _add(style, fields, said[style.language])


def example_scores(style, fields, paper, ctx):
    triple = quality.example_scores(style, ctx["example"])
    if triple is None:
        return None
    out = json.loads(json.dumps(fields))
    for key, score in zip(SCORE_LABELS, triple, strict=True):
        out["scores"][key]["score"] = score
    return out


def other_paper(style, fields, paper, ctx):
    return ctx["other"]


def identical_headings(style, fields, paper, ctx):
    lst = next((f for f in style.fields if f.kind == "list" and f.marker and f.max_items >= 3), None)
    if lst is None:
        return None
    bodies = [*fields[lst.name], *sentences(" ".join(str(v) for v in _texts(fields)))][:3]
    head = re.split(r"[，。,:：]", fields[lst.name][0])[0][:10]
    return {**fields, lst.name: [f"{head}: {b}" for b in bodies]}


def misspelled_name(style, fields, paper, ctx):
    text = " ".join(_texts(fields))
    name = next((n for n in dict.fromkeys(ANCHOR.findall(paper.abstract)) if len(n) >= 6 and n in text), None)
    if name is None:
        return None
    i = len(name) // 2
    wrong = name[:i] + ("e" if name[i].lower() == "a" else "a") + name[i + 1:]
    return json.loads(json.dumps(fields).replace(name, wrong, 1))


def broken_script(style, fields, paper, ctx):
    if style.language == "en":
        return None
    word = next((w for w in re.findall(r"[a-z]{7,}", paper.abstract) if w not in " ".join(_texts(fields))), None)
    if word is None:
        return None
    said = {"zh": f"{word[:len(word) // 2]}化是关键。", "ko": f"트레이{word[len(word) // 2:]}를 사용합니다."}
    return _add(style, fields, said[style.language])


def comma_fragments(style, fields, paper, ctx):
    lst = next((f for f in style.fields if f.kind == "list"), None)
    longest = max(ABSTRACT_SENTENCE.split(paper.abstract), key=len, default="")
    parts = [p.strip(" .") for p in longest.split(", ") if len(p.split()) >= 2]
    if lst is None or len(parts) < max(lst.min_items, 2):
        return None
    return {**fields, lst.name: parts[: lst.max_items]}


DEFECTS = {f.__name__: f for f in (example_line, example_topic, example_scores, other_paper, identical_headings,
                                   misspelled_name, broken_script, comma_fragments)}


# ---- the measurement

def verdict(style: Style, fields: dict, paper: Paper) -> set[str]:
    """The rules check_reply fails for the reply these fields make."""
    return {p.rule for p in check_reply(style, format_output(style, fields), paper).problems}


def _messages(style: Style, fields: dict, paper: Paper) -> list[str]:
    return [p.message for p in check_reply(style, format_output(style, fields), paper).problems]


def measure(sets: dict[str, list[tuple[Paper, dict]]], show: int = 0) -> dict:
    """{"honest": {style: {"papers", "refused", rule: n}}, "planted": {style: {defect: [caught, applicable]}},
    "report": {style: {"example_scores": [flagged, applicable]}}} for honest (paper, fields) pairs per style;
    `show`: print that many refusals of honest text per style (their messages), and planted defects missed."""
    honest_counts: dict = {}
    planted: dict = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    flagged: dict = defaultdict(lambda: [0, 0])
    missed: Counter = Counter()
    for name, pairs in sets.items():
        style = STYLES[name]
        counts: Counter = Counter()
        for n, (paper, fields) in enumerate(pairs):
            refused = verdict(style, fields, paper)
            counts.update(refused)
            counts["refused"] += bool(refused)
            if refused:
                if counts["refused"] <= show:
                    print(f"honest {name} {paper.id} refused:", _messages(style, fields, paper), file=sys.stderr)
                continue
            example, shown = example_for(style, paper)
            ctx = {"example": example, "example_name": shown.name if shown else "", "other": pairs[(n + 1) % len(pairs)][1]}
            for kind, plant in DEFECTS.items():
                if len(pairs) < 2 and kind == "other_paper":
                    continue
                broken = plant(style, fields, paper, ctx)
                if broken is None or broken == fields:
                    continue
                planted[name][kind][1] += 1
                caught = bool(verdict(style, broken, paper))
                planted[name][kind][0] += caught
                missed[name, kind] += not caught
                if not caught and missed[name, kind] <= show and kind != "example_scores":
                    print(f"missed {kind} {name} {paper.id}:", format_output(style, broken)[-300:], file=sys.stderr)
                if kind == "example_scores":
                    flagged[name][1] += 1
                    q = quality.paper_quality(style, broken, paper, example=example)
                    flagged[name][0] += bool(q["example_scores"])
        honest_counts[name] = {"papers": len(pairs), **counts}
    return {"honest": honest_counts, "planted": {k: dict(v) for k, v in planted.items()},
            "report": {k: {"example_scores": v} for k, v in flagged.items()}}


def tables(result: dict) -> str:
    rules = sorted({r for c in result["honest"].values() for r in c if r not in ("papers", "refused")})
    lines = ["Honest summaries refused (papers refused, then refusals per rule):", "",
             "| style | papers | refused | " + " | ".join(rules) + " |", "|---|---|---|" + "---|" * len(rules)]
    for name, c in result["honest"].items():
        lines.append(f"| {name} | {c['papers']} | {c.get('refused', 0)} | "
                     + " | ".join(str(c.get(r, 0)) for r in rules) + " |")
    kinds = list(DEFECTS)
    lines += ["", "Planted defects caught by the validator (caught/applicable, of the honest summaries that passed):",
              "", "| style | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for name, c in result["planted"].items():
        cells = [f"{c[k][0]}/{c[k][1]} ({c[k][0] / c[k][1]:.0%})" if k in c and c[k][1] else "–" for k in kinds]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, c in result["report"].items():
        got, of = c["example_scores"]
        lines.append(f"\n{name}: scores equal to the example shown, flagged by the quality report: {got}/{of}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="daily-arXiv-ai-enhanced .jsonl files or folders holding them")
    parser.add_argument("--styles", default=",".join(n for n, s in STYLES.items() if s.kind == "summary"))
    parser.add_argument("--json", type=Path, default=None, help="write every count here")
    parser.add_argument("--show", type=int, default=0, help="print N honest refusals and N missed defects per kind")
    parser.add_argument("--limit", type=int, default=None, help="only the first N papers")
    args = parser.parse_args()
    pairs = rows(args.paths)[: args.limit]
    sets = {name: [(p, f) for p, t in pairs if (f := honest(STYLES[name], p, t)) is not None]
            for name in args.styles.split(",")}
    result = measure({k: v for k, v in sets.items() if v}, args.show)
    print(f"{len(pairs)} rows from {', '.join(args.paths)}\n")
    print(tables(result))
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
