"""Text shapes every stage reads alike: scripts (CJK, Hangul, Latin), bullet marks, "English (中文)" keywords, score
lines and one-line folding. The reply parser (prompt.py), the page read-back, validation and rendering use these.
"""

from __future__ import annotations

import re

CJK = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")  # CJK unified ideographs and extension A (Chinese characters)
HANGUL = re.compile(r"[\uac00-\ud7a3]")  # precomposed Hangul syllables (Korean)
LATIN_WORD = re.compile(r"[A-Za-z]+")
LATIN_LETTER = re.compile(r"[A-Za-z]")

# Scripts no digest language writes in (Greek stays: λ, α name methods): Cyrillic, Hebrew, Arabic, Devanagari, Thai,
# Japanese kana; Hangul in Chinese prose, Chinese characters in Korean prose. A small model under a no-repeat ban
# reaches for look-alike letters ("λ-RLМ" with a Cyrillic М, "语言モデル"); honest summaries hold none.
# Validation fails such a word unless the paper's title or abstract holds it; generation suppresses the tokens.
OTHER_SCRIPT = {
    "any": re.compile(r"[\u0400-\u052f\u0590-\u05ff\u0600-\u06ff\u0900-\u097f\u0e00-\u0e7f\u3040-\u30ff]+"),
    "zh": re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]+"),  # Hangul syllables and jamo
    # Chinese characters in Korean prose: small models drift into Chinese words ("现有的", "一致性"); the Korean
    # digests users publish hold none.
    "ko": re.compile(f"{CJK.pattern}+"),
}


def other_scripts(text: str, language: str) -> list[str]:
    """The runs of `text` in a script that prose in `language` ("en", "zh", "ko") never writes, in order."""
    return [run for pattern in (OTHER_SCRIPT["any"], OTHER_SCRIPT.get(language)) if pattern
            for run in pattern.findall(text)]

# A bullet or list number opening a line: "-", "*", "•", "1.", "1)", "1、", "(1)", "①" (models and real pages use
# them all). "**bold**" and "1.5x faster" open with no bullet.
BULLET = re.compile(r"^\s*(?:[-•·●▪‣–—]|\*(?!\*)|\d{1,2}[.)、．](?!\d)|[(（]\d{1,2}[)）]|[①-⑩])\s*")

# Score field keys → label spellings met in replies and pages (the Chinese label first: the one we render).
SCORE_KEYS = {
    "practicality": ("实用性", "practicality", "usefulness"),
    "novelty": ("创新性", "novelty", "innovation", "originality"),
    "recommendation": ("推荐度", "recommendation", "recommend"),
}
_LABELS = "|".join(label for labels in SCORE_KEYS.values() for label in labels)
# "实用性: 4 - reason", "实用性：4分。reason", "Novelty 4/5, reason", "推荐度 4.5/5分 reason": label, up to 12 other
# characters (a colon, "评分"), the number, an optional "/5" and "分", separators, then the reason.
SCORE_LINE = re.compile(
    rf"^(?P<label>{_LABELS})\w*[^\d\n]{{0,12}}?(?P<value>\d+(?:\.\d+)?)\s*(?:/\s*5)?\s*分?\s*(?:/\s*5)?\s*分?"
    r"[\s。.,，;；:：\-–—]*(?P<reason>.*)$",
    re.IGNORECASE,
)
_KEY_OF = {label.lower(): key for key, labels in SCORE_KEYS.items() for label in labels}


def one_line(text, limit: int | None = None) -> str:
    """Inner whitespace folded to single spaces; cut with "…" beyond `limit` characters when one is given."""
    text = " ".join(str(text).split())
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def plain(line: str) -> str:
    """A line without its bullet, heading marks, bold/underline marks and backticks."""
    return re.sub(r"\*\*|__|`|^#+\s*", "", BULLET.sub("", line, count=1)).strip()


# A keyword as digests publish it, "English (中文)": the English half holds a Latin letter, the Chinese half Chinese.
KEYWORD = re.compile(r"^(?P<en>[^()]*[A-Za-z][^\n]*?)\s\((?P<zh>[^()]*[\u4e00-\u9fff][^()]*)\)$")
# A keyword as the prompt asks for it, "中文 (English)" (the order the 0.5B model writes well): the Chinese half may
# hold Latin ("长CoT推理 (Long CoT Reasoning)", "任务 agent (Task Agent)"), the English half holds a Latin letter and
# no Chinese, wherever it starts ("3D生成 (3D Generation)", "4比特量化 (4-bit Quantization)").
ASKED_KEYWORD = re.compile(
    r"^([^()（）]*[\u4e00-\u9fff][^()（）]*?)\s*[(（]\s*([^()（）\u4e00-\u9fff]*?[A-Za-z][^()（）\u4e00-\u9fff]*?)\s*[)）]$")


def keyword(item: str) -> str:
    """A keyword as read from a reply or page → "English (中文)": "`English` (`中文`)", "**English**（中文）",
    "English(中文)", and the order the prompt asks for, "中文 (English)", turned round; other shapes only cleaned."""
    item = plain(item).replace("（", "(").replace("）", ")")
    if m := ASKED_KEYWORD.match(item):
        return f"{m.group(2).strip()} ({m.group(1).strip()})"
    m = re.match(r"^(.*\S)\s*\(\s*([^()]*?)\s*\)\s*$", item)
    return f"{m.group(1).strip()} ({m.group(2)})" if m else item


def asked_keyword(item: str) -> str:
    """A published "English (中文)" keyword written the way the prompt asks for it, "中文 (English)" (the inverse of
    `keyword`: what a fine-tuning target must say); a keyword `keyword` would not read back the same, unchanged."""
    item = str(item)
    m = KEYWORD.match(item)
    turned = f"{m.group('zh').strip()} ({m.group('en').strip()})" if m else item
    return turned if keyword(turned) == item else item


def score_line(line: str) -> tuple[str, float, str] | None:
    """(score key, value, reason) of a score line in any of the shapes above, else None."""
    m = SCORE_LINE.match(plain(line))
    if not m:
        return None
    return _KEY_OF[m.group("label").lower()], float(m.group("value")), m.group("reason").strip()
