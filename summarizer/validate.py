"""Validation of parsed model output: small pure rules, each with a stable name used in per-rule failure counts.

validate(style, fields, paper) runs every rule and returns the Problems; an empty list means the summary is valid.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from summarizer.papers import Paper
from summarizer.styles import SCORE_LABELS, Style


@dataclass(frozen=True)
class Problem:
    rule: str  # stable rule name ("required", "keywords", ...): run summaries count failures by it
    message: str  # one sentence a repair prompt can show the model and a digest can show the reader


CJK = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")
HANGUL = re.compile(r"[\uac00-\ud7a3]")
LATIN_WORD = re.compile(r"[A-Za-z]+")
LATIN_LETTER = re.compile(r"[A-Za-z]")


def _texts(fields: dict, skip: tuple[str, ...] = ()) -> list[str]:
    """Every prose string in the fields (list items and score reasons included), minus skipped fields."""
    out: list[str] = []
    for name, value in fields.items():
        if name in skip:
            continue
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list):
            out.extend(str(v) for v in value)
        elif isinstance(value, dict):
            out.extend(str(v.get("reason", "")) for v in value.values() if isinstance(v, dict))
    return out


def _keyword_fields(style: Style) -> tuple[str, ...]:
    return tuple(f.name for f in style.fields if f.kind in ("keywords", "scores"))


def check_required(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    missing = [f.name for f in style.fields if not fields.get(f.name)]
    if not missing:
        return []
    markers = ", ".join(f"{f.marker}:" if f.marker else f.name for f in style.fields if f.name in missing)
    return [Problem("required", f"Missing or empty section(s): {markers}.")]


def check_bullets(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """List fields (bullets, highlights, tags, ...) hold between min_items and max_items items."""
    out = []
    for f in style.fields:
        value = fields.get(f.name)
        if f.kind != "list" or not isinstance(value, list) or not value:
            continue
        if not f.min_items <= len(value) <= f.max_items:
            where = f"{f.marker}: has" if f.marker else "The reply has"
            out.append(Problem("bullets", f"{where} {len(value)} bullet points; write {f.min_items} to {f.max_items}."))
    return out


KEYWORD = re.compile(r"^(?P<en>[^()]*[A-Za-z][^\n]*?)\s\((?P<zh>[^()]*[\u4e00-\u9fff][^()]*)\)$")


def check_keywords(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """Keyword fields: exactly the count the style asks for, each shaped "English (中文)"."""
    out = []
    for f in style.fields:
        value = fields.get(f.name)
        if f.kind != "keywords" or not isinstance(value, list) or not value:
            continue
        if not f.min_items <= len(value) <= f.max_items:
            out.append(Problem("keywords", f"KEYWORDS: has {len(value)} items; write exactly {f.max_items}."))
        bad = [k for k in value if not KEYWORD.match(str(k))]
        if bad:
            out.append(Problem("keywords", f"Write each keyword as \"English (中文)\", not \"{bad[0]}\"."))
    return out


def check_scores(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """Score fields: 实用性/创新性/推荐度, each an integer 1-5 with a non-empty reason."""
    out = []
    for f in style.fields:
        value = fields.get(f.name)
        if f.kind != "scores" or not value:
            continue
        for key, label in SCORE_LABELS.items():
            item = value.get(key) if isinstance(value, dict) else None
            score = item.get("score") if isinstance(item, dict) else None
            if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
                out.append(Problem("scores", f"Give {label} an integer score from 1 to 5 (got {score!r})."))
            elif not str(item.get("reason", "")).strip():
                out.append(Problem("scores", f"Give {label} a one-sentence reason after the score."))
    return out


def script_share(text: str, language: str) -> float:
    """Share of the style's script: CJK chars (zh) or Hangul syllables (ko) against Latin words; Latin letters (en)."""
    if language == "en":
        letters = len(LATIN_LETTER.findall(text))
        foreign = len(CJK.findall(text)) + len(HANGUL.findall(text))
        return letters / (letters + foreign) if letters + foreign else 1.0
    own = len((CJK if language == "zh" else HANGUL).findall(text))
    latin = len(LATIN_WORD.findall(text))
    return own / (own + latin) if own + latin else 0.0


LANGUAGE_MIN = {"en": 0.95, "zh": 0.5, "ko": 0.5}  # below this share the prose is in the wrong language
LANGUAGE_NAMES = {"en": "English", "zh": "Simplified Chinese", "ko": "Korean"}


def check_language(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """The prose as a whole, and each paragraph field of 20+ characters, is mostly in the style's language."""
    keywords = tuple(f.name for f in style.fields if f.kind == "keywords")  # bilingual by design
    paragraphs = [v for f in style.fields if isinstance(v := fields.get(f.name), str) and len(v) >= 20]
    for text in [" ".join(_texts(fields, skip=keywords)), *paragraphs]:
        if text.strip() and (share := script_share(text, style.language)) < LANGUAGE_MIN[style.language]:
            return [Problem("language",
                            f"Write in {LANGUAGE_NAMES[style.language]} (only {share:.0%} of \"{text[:30]}\" is).")]
    return []


LEAKS = [  # (pattern, what it is): text that must never reach a digest
    (re.compile(r"【\d+(?::\d+)?†[^】]*】"), "a chat-tool citation mark"),
    (re.compile(r"\bas an? (?:AI|artificial intelligence)\b|\bas an? (?:large )?language model\b|"
                r"作为(?:一个)?(?:AI|人工智能)|作为(?:一个)?(?:大型)?语言模型|AI 언어 모델로서", re.IGNORECASE),
     "an assistant disclaimer"),
    (re.compile(r"Traceback \(most recent call last\)|\b\w+(?:Error|Exception): |\brate[ -]limit|"
                r"\bHTTP (?:error )?[45]\d\d\b|\btoo many requests\b", re.IGNORECASE), "an error message"),
    (re.compile(r"x{3,}|X{3,}|\{[A-Za-z_][\w ]*\}|\[(?:TODO|PLACEHOLDER|INSERT[^\]]*)\]", re.IGNORECASE),
     "a template placeholder"),
    (re.compile(r"<\|[^|>]*\|>|</?[A-Za-z][\w-]*(?:\s[^<>]*)?>"), "a markup tag"),
    (re.compile(r"^\s*[{\[]\s*\"|\"\w+\"\s*:\s*[\"\[{\d]"), "raw JSON"),
    (re.compile(r"^\s*(?:Title|Abstract|<abstract>)\s*:?", re.IGNORECASE), "an echo of the prompt"),
]


def check_leaks(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    out = []
    for text in _texts(fields):
        for pattern, what in LEAKS:
            m = pattern.search(text)
            if m and m.group(0) not in paper.abstract:
                out.append(Problem("leak", f"Remove {what} (\"{m.group(0).strip()[:40]}\")."))
    return out[:3]


TOKEN = re.compile(r"[A-Za-z0-9]+|[\u4e00-\u9fff]|[\uac00-\ud7a3]+|[^\s\w]")
SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]?")


def check_repetition(style: Style, fields: dict, paper: Paper, n: int = 8, times: int = 3) -> list[Problem]:
    """Degenerate loops: an n-token sequence occurring `times` times, or the same sentence/item twice."""
    texts = _texts(fields, skip=_keyword_fields(style))
    tokens = TOKEN.findall(" ".join(texts).lower())
    if style.language == "zh":
        # TOKEN makes every CJK character a token: a legitimately repeated 8-character term is not a loop.
        n = n * 3
    grams = Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    if grams and max(grams.values()) >= times:
        gram = max(grams, key=grams.get)
        return [Problem("repetition", f"Do not repeat yourself (\"{' '.join(gram)[:40]}\" occurs {grams[gram]} times).")]
    sentences = Counter(
        " ".join(s.lower().split()) for t in texts for s in SENTENCE.findall(t) if len(s.strip()) >= 15
    )
    dup = [s for s, c in sentences.items() if c > 1]
    if dup:
        return [Problem("repetition", f"Do not repeat the same sentence (\"{dup[0][:40]}\").")]
    return []


NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.,])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(%|[xX×]\b|[kK]\b|[mM]\b|[bB]\b|万|亿|"
    r"thousand\b|million\b|billion\b)?",
)
SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "b": 1e9, "billion": 1e9, "万": 1e4, "亿": 1e8}
WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split()
)} | {"thirty": 30, "forty": 40, "fifty": 50, "hundred": 100, "thousand": 1000, "million": 1e6, "billion": 1e9}
URL = re.compile(r"https?://\S+")


def numbers(text: str) -> set[float]:
    """Every number in the text, both as written and scaled (1,000 = 1000; 7M = 7000000 = 700万; 12.3% = 12.3)."""
    out: set[float] = set()
    text = URL.sub(" ", text)
    for raw, unit in NUMBER.findall(text):
        value = float(raw.replace(",", ""))
        out.add(value)
        if unit and unit.lower() in SCALE:
            out.add(value * SCALE[unit.lower()])
    return out


def check_numbers(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """Every number in the prose appears in the title or abstract (score values and list numbering never count)."""
    source = f"{paper.title} {paper.abstract}"
    allowed = numbers(source) | {float(v) for w, v in WORDS.items() if re.search(rf"\b{w}\b", source, re.I)}
    prose = " ".join(_texts(fields, skip=_keyword_fields(style)))
    invented = sorted({raw for raw, unit in NUMBER.findall(URL.sub(" ", prose))
                       if not numbers(raw + unit) & allowed})
    if invented:
        return [Problem("numbers", f"Use only numbers from the abstract; {', '.join(invented[:5])} is not in it.")]
    return []


SUMMARY_WORDS = set(
    "that this these those with from into their there which while about paper papers authors author propose "
    "proposes proposed present presents presented introduce introduces introduced show shows shown study "
    "studies work method methods approach results result also more than such used using uses based between "
    "both each other they them have been were will would could should further new novel".split()
)


def check_grounding(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """English prose only: most content words come from the title or abstract (catches invented content)."""
    if style.language != "en" or not paper.abstract:
        return []
    stems = {w[:5] for w in re.findall(r"[a-z]{4,}", f"{paper.title} {paper.abstract}".lower())}
    words = [w for w in re.findall(r"[a-z]{4,}", " ".join(_texts(fields)).lower()) if w not in SUMMARY_WORDS]
    if len(words) < 5:
        return []
    share = sum(w[:5] in stems for w in words) / len(words)
    if share < 0.5:
        return [Problem("grounding", f"Stay with the abstract: only {share:.0%} of the content words come from it.")]
    return []


def check_length(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """Translations: length roughly proportional to the abstract (nothing dropped, nothing added)."""
    if not style.length_ratio or not paper.abstract:
        return []
    text = " ".join(_texts(fields))
    if not text:
        return []
    ratio = len(text) / len(paper.abstract)
    low, high = style.length_ratio
    if ratio < low:
        return [Problem("length", f"The translation is too short ({ratio:.2f}x the abstract); translate all of it.")]
    if ratio > high:
        return [Problem("length", f"The translation is too long ({ratio:.2f}x the abstract); add nothing.")]
    return []


RULES: dict[str, Callable[[Style, dict, Paper], list[Problem]]] = {
    "required": check_required,
    "bullets": check_bullets,
    "keywords": check_keywords,
    "scores": check_scores,
    "language": check_language,
    "leak": check_leaks,
    "repetition": check_repetition,
    "numbers": check_numbers,
    "grounding": check_grounding,
    "length": check_length,
}


def validate(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """Every rule's problems, in RULES order; empty means valid."""
    return [p for check in RULES.values() for p in check(style, fields, paper)]
