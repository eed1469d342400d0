"""Validation of parsed model output: small pure rules, each with a stable name used in per-rule failure counts.

validate(style, fields, paper) runs every rule and returns the Problems; an empty list means the summary is valid.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from hashlib import sha256
from pathlib import Path

from summarizer.papers import Paper
from summarizer.prompt import (
    SCORE_RANGE,
    OutputFormatError,
    count_phrase,
    parse_output,
    parse_scores,
    system_prompt,
)
from summarizer.styles import SCORE_LABELS, Field, Style
from summarizer.text import ASKED_KEYWORD, CJK, HANGUL, KEYWORD, LATIN_LETTER, LATIN_WORD, other_scripts

QUOTE = 40  # characters of the reply quoted in a problem message: enough to find it, short enough for one line
NAMED = 5  # invented numbers named in one message
SENTENCE_MIN = 15  # characters: a shorter sentence ("代码已公开。", "Code is released.") may honestly recur


@dataclass(frozen=True)
class Problem:
    rule: str  # stable rule name ("required", "keywords", ...): run summaries count failures by it
    message: str  # one sentence a repair prompt can show the model and a digest can show the reader




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


def prose(fields: dict) -> str:
    """All prose of a summary as one string (keywords and score reasons included)."""
    return " ".join(_texts(fields))


def _keyword_fields(style: Style) -> tuple[str, ...]:
    return tuple(f.name for f in style.fields if f.kind in ("keywords", "scores"))


def check_required(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """Every section of the style's layout is present and not empty: a page shows every heading it promises."""
    missing = [f.name for f in style.fields if not fields.get(f.name)]
    if not missing:
        return []
    markers = ", ".join(f"{f.marker}:" if f.marker else f.name for f in style.fields if f.name in missing)
    return [Problem("required", f"Missing or empty section(s): {markers}.")]


def _lists(style: Style, fields: dict, kind: str) -> list[tuple[Field, list]]:
    """(field, items) for each non-empty field of that kind ("list" or "keywords")."""
    return [(f, v) for f in style.fields if f.kind == kind and isinstance(v := fields.get(f.name), list) and v]


def check_bullets(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """List fields (bullets, highlights, tags, ...) hold between min_items and max_items items."""
    return [Problem("bullets", f"{f'{f.marker}: has' if f.marker else 'The reply has'} {len(items)} bullet points; "
                               f"write {count_phrase(f)}.")
            for f, items in _lists(style, fields, "list") if not f.min_items <= len(items) <= f.max_items]


def check_keywords(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """Keyword fields: exactly the count the style asks for, each shaped "English (中文)"."""
    out = []
    for f, items in _lists(style, fields, "keywords"):
        if not f.min_items <= len(items) <= f.max_items:
            out.append(Problem("keywords", f"{f.marker}: has {len(items)} items; write {count_phrase(f)}."))
        if bad := [k for k in items if not KEYWORD.match(str(k))]:
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
            lo, hi = SCORE_RANGE
            if not isinstance(score, int) or isinstance(score, bool) or not lo <= score <= hi:
                out.append(Problem("scores", f"Give {label} an integer score from {lo} to {hi} (got {score!r})."))
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


# Below this share the prose is in the wrong language. English prose has no CJK at all but a stray term (0.95);
# Chinese and Korean prose name methods and datasets in Latin script, so half of the words may be Latin (0.5).
LANGUAGE_MIN = {"en": 0.95, "zh": 0.5, "ko": 0.5}
PARAGRAPH_MIN = 20  # characters: a shorter paragraph field (a name, a title) is judged only with the rest
LANGUAGE_NAMES = {"en": "English", "zh": "Simplified Chinese", "ko": "Korean"}


def _other_script(text: str, paper: Paper, language: str) -> str | None:
    """The first run of another script in `text` that the title and abstract do not hold, if any."""
    source = f"{paper.title} {paper.abstract}"
    return next((run for run in other_scripts(text, language) if run not in source), None)


# A run of this many Latin-script words in Chinese or Korean prose is a sentence left in English. Honest text: at most
# 6 (a method's full name and its acronym) in 3,500 fields of a large model's Chinese summaries, 5 in our users'
# digests; a copied abstract sentence is 10 to 40 words.
ENGLISH_RUN = 10
RUN_WORD = r"[A-Za-z][A-Za-z0-9'’-]*"  # a Latin-script word as a run counts it ("Qwen3-32B" is one)
WORD_RUN = re.compile(rf"{RUN_WORD}(?:[ ,:;()/]+{RUN_WORD})*")  # Latin words joined by spaces, commas, brackets


def _english_run(texts: list[str]) -> str | None:
    """The first run of ENGLISH_RUN or more Latin-script words in any of `texts`, if any."""
    return next((m.group(0) for t in texts for m in WORD_RUN.finditer(t)
                 if len(re.findall(RUN_WORD, m.group(0))) >= ENGLISH_RUN), None)


def check_language(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """The prose as a whole, and each paragraph field of 20+ characters, is mostly in the style's language; no word
    is in a script the style's language and the abstract do not use."""
    keywords = tuple(f.name for f in style.fields if f.kind == "keywords")  # bilingual by design
    paragraphs = [v for f in style.fields if isinstance(v := fields.get(f.name), str) and len(v) >= PARAGRAPH_MIN]
    if "\ufffd" in (text := " ".join(_texts(fields))) and "\ufffd" not in f"{paper.title} {paper.abstract}":
        # A character the model spelt in raw bytes and broke off midway ("컨�다운").
        return [Problem("language", f"Write in {LANGUAGE_NAMES[style.language]} only (a broken character, "
                                    f"\"{text[max(0, text.index(chr(0xfffd)) - 8):][:QUOTE]}\").")]
    if (run := _other_script(text, paper, style.language)) is not None:
        return [Problem("language", f"Write in {LANGUAGE_NAMES[style.language]} only (\"{run[:QUOTE]}\" is in "
                                    "another script).")]
    if style.language != "en" and (broken := broken_words(" ".join(_texts(fields, skip=keywords)), paper)):
        return [Problem("language", f"Write each word whole, in one script (\"{broken[0]}\" is a word broken "
                                    "between scripts).")]
    if style.language != "en" and (run := _english_run(_texts(fields, skip=keywords))) is not None:
        return [Problem("language", f"Write in {LANGUAGE_NAMES[style.language]}: \"{run[:QUOTE]}\" is English left "
                                    "untranslated.")]
    for text in [" ".join(_texts(fields, skip=keywords)), *paragraphs]:
        if text.strip() and (share := script_share(text, style.language)) < LANGUAGE_MIN[style.language]:
            return [Problem("language",
                            f"Write in {LANGUAGE_NAMES[style.language]} (only {share:.0%} of \"{text[:QUOTE]}\" is).")]
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
    # The retry prompt's own words (prompt.repair_prompt and the problem messages below), which a model on a repair
    # retry writes back into its reply.
    (re.compile(r"previous reply|(?-i:\bProblems:)|whole reply again|\bDo not repeat\b|\bSay each thing once\b|"
                r"\bsay the same\b|\bUse only numbers\b|\bis not in it\b|bullet points; write|\bWrite each keyword\b|"
                r"\bMissing or empty section|\bTranslate the whole abstract\b|\bSpell the paper's names\b|"
                r"\brepeats the prompt|\bWrite (?:in|about) (?:Korean|Simplified Chinese|English|this paper)\b|"
                r"\bin another script\b|\bbroken character\b|\bone-sentence reason\b|\binteger score from\b|"
                r"\bnearly the same as the one for paper\b|\bbroken between scripts\b|\bsentence of your own\b|"
                r"\bpiece of an abstract sentence\b|\bits own heading\b", re.IGNORECASE), "an echo of the retry prompt"),
]


def check_leaks(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """No text that must never reach a reader: chat-tool citation marks, assistant disclaimers, error messages and
    tracebacks, template placeholders, markup tags, raw JSON, an echo of the prompt or of the retry prompt's own words
    (unless the abstract itself holds it)."""
    out = []
    for text in _texts(fields):
        for pattern, what in LEAKS:
            m = pattern.search(text)
            if m and m.group(0) not in paper.abstract:
                out.append(Problem("leak", f"Remove {what} (\"{m.group(0).strip()[:QUOTE]}\")."))
    return out[:3]  # three are enough to say what to fix (a repair prompt lists every problem it is given)


TOKEN = re.compile(r"[A-Za-z0-9]+|[\u4e00-\u9fff]|[\uac00-\ud7a3]+|[^\s\w]")
# A sentence: up to its end mark; a "." between digits ("15.2%") ends nothing, or "提升15.2%" would be two sentences.
SENTENCE = re.compile(r"(?:[^.!?。！？\n]|(?<=\d)\.(?=\d))+[.!?。！？]?")


def check_repetition(style: Style, fields: dict, paper: Paper, n: int = 8, times: int = 3) -> list[Problem]:
    """Degenerate loops: an n-token sequence occurring `times` times, or the same sentence/item twice.
    8 words three times is a loop, not a repeated method name; sentences under 15 characters ("代码已公开。") may recur."""
    texts = _texts(fields, skip=_keyword_fields(style))
    tokens = TOKEN.findall(" ".join(texts).lower())
    if style.language == "zh":
        # TOKEN makes every CJK character a token: a legitimately repeated 8-character term is not a loop.
        n = n * 3
    grams = Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    if grams and max(grams.values()) >= times:
        gram = max(grams, key=grams.get)
        return [Problem("repetition", f"Do not repeat yourself (\"{' '.join(gram)[:QUOTE]}\" occurs {grams[gram]} times).")]
    sentences = Counter(
        " ".join(s.lower().split()) for t in texts for s in SENTENCE.findall(t) if len(s.strip()) >= SENTENCE_MIN
    )
    dup = [s for s, c in sentences.items() if c > 1]
    if dup:
        return [Problem("repetition", f"Do not repeat the same sentence (\"{dup[0][:QUOTE]}\").")]
    if head := repeated_heading(style, fields):
        return [Problem("repetition", f"Give each item its own heading (\"{head[:QUOTE]}\" heads two items).")]
    return _said_twice(style, fields)


ITEM_HEADING = re.compile(r"^(?P<head>[^:：。.!?！？]{1,40})[:：]\s*\S")  # "块大小限制: 按块切分" -> its heading
ITEM_LABEL = re.compile(r"^[^:：\d]{0,8}\d{1,2}\s*[:：]\s*")  # "挑战1: " before the heading: numbering, not heading


def repeated_heading(style: Style, fields: dict) -> str | None:
    """The first heading ("块大小限制: ...") that two items of one list start with; a numbered label before it
    ("挑战1: 块大小限制: ...", "挑战2: 块大小限制: ...") is left out."""
    for _, items in _lists(style, fields, "list"):
        seen: set[str] = set()
        for item in map(str, items):
            if m := ITEM_HEADING.match(ITEM_LABEL.sub("", item)):
                head = " ".join(m.group("head").lower().split())
                if head in seen:
                    return m.group("head")
                seen.add(head)
    return None


NEAR_MIN = 12  # shingles (15 CJK characters, 15 words): a shorter text may honestly echo another


def _said_twice(style: Style, fields: dict) -> list[Problem]:
    """Two paragraph fields, or two items of one list, that are one text (DUPLICATE of the shorter's shingles). A
    no-repeat ban keeps a small model from writing a sentence twice word for word, so it wrote the same paragraph
    again with a character swapped. Honest summaries measured at most
    0.44 (560 of a large model, 46 of our users' digests), with `restates` fields (a summary, a title) left out."""
    paragraphs = [v for f in style.fields
                  if f.kind == "text" and not f.restates and isinstance(v := fields.get(f.name), str)]
    lists = [[str(x) for x in v] for f in style.fields
             if f.kind == "list" and isinstance(v := fields.get(f.name), list)]
    for group in [paragraphs, *lists]:
        long = [t for t in group if len(shingles(t)) >= NEAR_MIN]
        for i, a in enumerate(long):
            for b in long[i + 1:]:
                if similarity(a, b) >= DUPLICATE:
                    return [Problem("repetition", f"Say each thing once: \"{a[:QUOTE]}\" and \"{b[:QUOTE]}\" say the "
                                                  "same.")]
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


# Numbering inside a paragraph ("方法：1) 构建……；2) 训练……", "(1)", "；3. 评估"): at a line start or after a
# punctuation mark, 1-2 digits closed by ")", "）", "、" or a "." that no digit follows. A quarter of the
# daily-arXiv-ai-enhanced summaries number their steps this way; the numbers are no facts from the abstract.
INLINE_NUMBERING = re.compile(r"(?:^|(?<=[：:；;，,。(（]))\s*(?:\d{1,2}(?:[)）、]|\.(?!\d))|[(（]\d{1,2}[)）])", re.M)


def check_numbers(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """Every number in the prose appears in the title or abstract (score values and list numbering never count)."""
    source = f"{paper.title} {paper.abstract}"
    allowed = numbers(source) | {float(v) for w, v in WORDS.items() if re.search(rf"\b{w}\b", source, re.I)}
    prose = " ".join(INLINE_NUMBERING.sub(" ", t) for t in _texts(fields, skip=_keyword_fields(style)))
    invented = sorted({raw for raw, unit in NUMBER.findall(URL.sub(" ", prose))
                       if not numbers(raw + unit) & allowed})
    if invented:
        return [Problem("numbers", f"Use only numbers from the abstract; {', '.join(invented[:NAMED])} is not in it.")]
    return []


SUMMARY_WORDS = set(
    "that this these those with from into their there which while about paper papers authors author propose "
    "proposes proposed present presents presented introduce introduces introduced show shows shown study "
    "studies work method methods approach results result also more than such used using uses based between "
    "both each other they them have been were will would could should further new novel".split()
)


LATIN_TERM = re.compile(r"[a-z][a-z0-9]*")  # a lower-cased Latin term as grounding compares it ("gpt4", "llms")
ACRONYM_MAX = 5  # words an acronym may stand for ("grouped query attention" = gqa, "vision language action" = vla)


def _source_words(paper: Paper) -> tuple[set[str], set[str]]:
    """(lower-case Latin words and the acronyms of their runs, their 5-letter stems) of the title and abstract: a
    summary may write "LLM" or "GQA" where the abstract spells "large language models" or "grouped-query attention"."""
    tokens = LATIN_TERM.findall(f"{paper.title} {paper.abstract}".lower())
    words = set(tokens)
    acronyms = {"".join(t[0] for t in tokens[i:i + n]) for n in range(2, ACRONYM_MAX + 1)
                for i in range(len(tokens) - n + 1)}
    return words | acronyms, {w[:STEM] for w in words if len(w) >= STEM_MIN}


STEM_MIN = 4  # shorter words ("on", "the", "gan") are compared whole: their first letters say nothing
STEM = 5  # letters compared: "compress", "compression" and "compressed" share "compr" (a stemmer would be overkill)
GROUNDED_MIN = 0.5  # "most" words grounded; honest summaries measured 0.7-1.0 here, copies of the old example < 0.3
EN_MIN_WORDS = 5  # English prose with fewer content words is a sentence or two of common words: too short to judge
LATIN_MIN_WORDS = 4  # fewer Latin words in CJK prose than this say too little to judge (a name or two)


def _grounded(word: str, words: set[str], stems: set[str]) -> bool:
    singular = word[:-1] if word.endswith("s") else word  # "llm" against "llms", "llms" against "llm"
    return (word in words or singular in words or f"{singular}s" in words
            or (len(word) >= STEM_MIN and word[:STEM] in stems))


ANCHOR = re.compile(r"\b[A-Za-z]*[A-Z][a-z]*[A-Z0-9][\w-]*")  # acronyms and CamelCase names translations keep (LLM, GPT-4)
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*[A-Za-z0-9]")  # a Latin-script word as names are written ("Qwen3-8B")
NAME_MIN = 5  # characters (after folding): shorter acronyms differ by a letter honestly ("GRPO", "GCRO")
NAME_PART_MIN = 4  # characters of a source name found inside a summary's longer name ("Qwen2.5-VL-7B") to ground it
NAME_LONG = 8  # from this length two changed letters still misspell a name, below it one


def _fold(word: str) -> str:
    """A name as compared: lower case, no hyphens or underscores, no plural s ("MLLMs" = "mllm")."""
    word = word.lower().replace("-", "").replace("_", "")
    return word[:-1] if word.endswith("s") else word


def _edits_within(a: str, b: str, most: int) -> bool:
    """Levenshtein distance of a and b is at most `most`."""
    if abs(len(a) - len(b)) > most:
        return False
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row, prev = [i], row
        for j, cb in enumerate(b, 1):
            row.append(min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb)))
    return row[-1] <= most


def misspellings(text: str, paper: Paper):
    """Each (a word of `text`, the abstract's name it misspells), in order: a name of the title or abstract (an acronym or CamelCase
    word, 5+ characters) with a letter or two changed, which the abstract does not hold either ("TerraScore-Bench"
    for "TerraScope-Bench", "Qwen4" for "Qwen3": what a no-repeat ban drives a model to). Case, hyphens, plurals and a
    longer or shorter form ("GLiNER" for "GLiNER2") are not misspellings. 1 of 560 large-model summaries had one
    ("SwinVG" for "SwimVG")."""
    source = f"{paper.title} {paper.abstract}"
    words = {_fold(w) for w in NAME.findall(source)}
    names = {_fold(n): n for n in ANCHOR.findall(source) if len(_fold(n)) >= NAME_MIN}
    for word in NAME.findall(text):
        folded = _fold(word)
        if len(folded) < NAME_MIN or folded in words:
            continue
        for name_folded, name in names.items():
            if not (folded.startswith(name_folded) or name_folded.startswith(folded)) and _edits_within(
                    folded, name_folded, 1 if len(name_folded) < NAME_LONG else 2):
                yield word, name
                break


def misspelled(text: str, paper: Paper) -> tuple[str, str] | None:
    """The first of `misspellings`, if any."""
    return next(misspellings(text, paper), None)


GLUED = re.compile(r"(?<=[\u4e00-\u9fff\uac00-\ud7a3])[A-Za-z][A-Za-z0-9_.-]*|"
                   r"[A-Za-z0-9_.-]*[A-Za-z](?=[\u4e00-\u9fff\uac00-\ud7a3])")
HANGUL_SYLLABLE = re.compile(r"[\uac00-\ud7a3]")
FRAGMENT_MIN = 3  # letters: a shorter Latin run ("Re", "x") says nothing about a word it was cut from
INFLECTION = 3  # letters an ending may add to a glued word's stem ("segment" -> "segmented")


def broken_words(text: str, paper: Paper) -> list[str]:
    """Latin runs glued to Chinese or Korean ("타jectory", "Diar化") that are a piece of a word of the title or
    abstract but no word, acronym or stem of it: a word broken between scripts. Honest mixed text glues whole
    words ("LLM을", "基于Qwen2-VL的"). Korean glues a particle after a word, never a syllable before one: a lower-case
    run right after Hangul that is no word of the source ("파aring유형") is broken whatever it is a piece of."""
    source = f"{paper.title} {paper.abstract}"
    names = {_fold(w) for w in NAME.findall(source)}
    pieces = set(LATIN_TERM.findall(source.lower()))
    out = []
    for m in GLUED.finditer(text):
        run = m.group(0).strip("._-")
        low = run.lower()
        # An acronym ("GQA" for grouped-query attention) is written whole; a piece is judged against whole words
        if len(low) < FRAGMENT_MIN or run.isupper() or _fold(run) in names or _grounded(low, pieces, set()):
            continue
        # A piece of a word, not the word with an ending off ("agent" of "agents", "segment" of "segmented")
        after_hangul = m.start() > 0 and HANGUL_SYLLABLE.match(text[m.start() - 1]) and run[:1].islower()
        if not after_hangul and not any(low in w and not (w.startswith(low) and len(w) - len(low) <= INFLECTION)
                                        for w in pieces):
            continue
        out.append(text[max(0, m.start() - 3):m.end() + 3].strip())
    return list(dict.fromkeys(out))


def abstract_fragments(items: list, paper: Paper) -> list[str]:
    """List items that are a piece of one of the abstract's sentences, word for word, and no sentence themselves
    ("- a critic-free", "- providing denser supervision": lower case, or no end mark): an abstract cut at its
    commas is no summary. A clause written as a sentence ("The code is public.") is one."""
    source = " ".join(paper.abstract.split()).lower()
    out = []
    for item in map(str, items):
        item = item.strip()
        core = " ".join(item.split()).lower().strip(" .;,")
        if len(core.split()) < 2 or (at := source.find(core)) < 0:
            continue
        before, after = source[:at].rstrip(), source[at + len(core):].lstrip()
        whole = (not before or before[-1] in ".!?:") and (not after or after[0] in ".!?")
        sentence = item[:1].isupper() and item.endswith((".", "!", "?", "。"))
        if not (whole or sentence):
            out.append(item)
    return out


PROSE_NAME = re.compile(r"[A-Za-z]*[A-Z][a-z]*[A-Z0-9][A-Za-z0-9-]*")  # "WorldGrow", "Qwen2-VL", "LLM" in any prose
NAMES_MIN = 1  # names a Chinese or Korean summary must give before none of them grounded says "another paper"


def _distinctive(name: str) -> bool:
    """A name that belongs to one paper, not to the field: five letters or more, or mixed case ("WorldGrow",
    "NuSA-CL", "SSoT"). Short capitals ("AI", "GS", "SOTA", "LLM") are the field's, or a writer's own abbreviation."""
    return len(_fold(name)) >= NAME_MIN or (any(c.islower() for c in name) and any(c.isupper() for c in name[1:]))


def _stray_names(text: str, paper: Paper, words: set[str], stems: set[str]) -> str | None:
    """The first name of `text` that says it is about another paper (None: none does): it gives NAMES_MIN names or
    more and none of them is the title's or abstract's, even in part; or it gives distinctive names and none of them
    is written in the title or abstract, whole or as part of a longer name there ("Qwen2.5" of "Qwen2.5-7B"). A
    Chinese summary with too few Latin terms for the share rule, of another paper."""
    found = {_fold(w) for w in NAME.findall(f"{paper.title} {paper.abstract}")}
    names = list(dict.fromkeys(PROSE_NAME.findall(text)))
    if len(names) < NAMES_MIN:
        return None
    grounded = [n for n in names if _fold(n) in found
                or any(_grounded(w, words, stems) for w in LATIN_TERM.findall(n.lower()))]
    if not grounded:
        return names[0]
    own = [n for n in names if _distinctive(n)]
    if own and not any(f in s or (len(s) >= NAME_PART_MIN and s in f) for n in own if (f := _fold(n)) for s in found):
        return own[0]
    return None


def check_grounding(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """Most content words (English prose) or most Latin-script terms (Chinese/Korean prose: method names, datasets,
    acronyms, the keywords' English halves) come from the title or abstract: a summary of another paper fails. The
    paper's names are spelled as it spells them (translations included)."""
    if not paper.abstract:
        return []
    if (wrong := misspelled(" ".join(_texts(fields)), paper)) is not None:
        return [Problem("grounding", f"Spell the paper's names as its abstract does (\"{wrong[0]}\" is not "
                                     f"\"{wrong[1]}\").")]
    if style.kind == "translate":
        return []
    words, stems = _source_words(paper)
    text = prose(fields).lower()
    if style.language == "en":
        found = [w for w in re.findall(r"[a-z]{4,}", text) if w not in SUMMARY_WORDS]  # 4+ letters: content words
        if len(found) < EN_MIN_WORDS:
            return []
        what = "content words"
    else:
        found = [w for w in LATIN_TERM.findall(text) if w not in SUMMARY_WORDS and len(w) >= 2]
        if (stray := _stray_names(prose(fields), paper, words, stems)) is not None:
            near = [w for w in NAME.findall(f"{paper.title} {paper.abstract}") if _edits_within(_fold(stray), _fold(w), 1)]
            if near:  # a name of the paper with a letter changed ("RLLEV" for "RLEV"), not another paper's
                return [Problem("grounding", f"Spell the paper's names as its abstract does (\"{stray}\" is not "
                                             f"\"{near[0]}\").")]
            return [Problem("grounding", f"Write about this paper: none of the names it gives come from its abstract "
                                         f"(\"{stray}\" does not).")]
        if len(found) < LATIN_MIN_WORDS:
            return []
        what = "English terms"
    share = sum(_grounded(w, words, stems) for w in found) / len(found)
    if share < GROUNDED_MIN:
        missing = next(w for w in found if not _grounded(w, words, stems))
        return [Problem("grounding", f"Write about this paper: only {share:.0%} of the {what} come from its abstract "
                                     f"(\"{missing}\" does not).")]
    return []


# ---- copies: of the prompt's fixed text or the style's example, and of another paper's summary

SHINGLE_TOKEN = re.compile(r"[a-z0-9]+|[\u4e00-\u9fff\u3400-\u4dbf]|[\uac00-\ud7a3]")
SHINGLE = 4  # tokens per shingle: 4 Latin words, or 4 CJK characters / Hangul syllables (a short phrase)
COPY_SHARE = 0.3  # replies sharing this much with the prompt were copies (0.6-1.0 measured); honest ones < 0.1
DUPLICATE = 0.5  # two summaries sharing this much (of the shorter) are one text; different papers measured < 0.25


def shingles(text: str) -> set[tuple[str, ...]]:
    """Overlapping runs of SHINGLE tokens (Latin words, single CJK characters or Hangul syllables), lower-cased."""
    tokens = SHINGLE_TOKEN.findall(text.lower())
    return {tuple(tokens[i:i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1)}


def similarity(a: str, b: str) -> float:
    """Shared shingles over the shorter text's shingles: 1.0 when one text is contained in the other."""
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / min(len(sa), len(sb)) if sa and sb else 0.0


@lru_cache(maxsize=32)
def _fixed(style: Style) -> frozenset:
    """Shingles of every fixed text of the style: system prompt (layout skeleton included), user turn, examples."""
    return frozenset(shingles(f"{system_prompt(style)} {style.user} {' '.join(style.examples)}"))


# One sentence, item or reason this much from the example/prompt is a copied line: a generic score reason taken
# whole, or an example line with a few words swapped (such copies score 0.39-0.57; honest lines under 0.3, most
# under 0.12).
SEGMENT_COPY = 0.35
SEGMENT_MIN = 4  # shingles a line needs before it is judged alone (short terms recur honestly)


def check_copy(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """The reply does not reuse the prompt's fixed text or the style's example, as a whole or line by line
    (phrases also in the paper's own title or abstract do not count)."""
    fixed = _fixed(style) - shingles(f"{paper.title} {paper.abstract}")
    reply = shingles(prose(fields))
    if not reply:
        return []
    share = len(reply & fixed) / len(reply)
    if share >= COPY_SHARE:
        return [Problem("copy", f"Write about this paper's own abstract: {share:.0%} of the reply repeats the "
                                "prompt's layout text or example.")]
    for text in _texts(fields):
        line = shingles(text)
        if len(line) >= SEGMENT_MIN and len(line & fixed) / len(line) >= SEGMENT_COPY:
            return [Problem("copy", f"Write about this paper: \"{text.strip()[:QUOTE]}\" repeats the prompt's example.")]
    # A keyword is too short for shingles: one of the example's keywords whose English half is not in this abstract
    # is copied ("Optical Flow (光流)" in a paper on reasoning traces).
    words, stems = _source_words(paper)
    copied = _example_keywords(style) & {_keyword_en(k) for f, items in _lists(style, fields, "keywords") for k in items}
    if stray := sorted(en for en in copied if not any(_grounded(w, words, stems) for w in LATIN_TERM.findall(en))):
        return [Problem("copy", f"Write keywords of this paper: \"{stray[0]}\" is the prompt example's keyword.")]
    if style.kind == "summary" and (topic := example_topic(style, prose(fields), paper)):
        said = ", ".join(f'"{t}"' for t in topic[:3])
        return [Problem("copy", f"Write about this paper: {said} is the prompt example's topic, not this abstract's.")]
    return []


# ---- the example's topic, derived from the example texts (no word list)

TOPIC_UNIT = re.compile(r"[\u4e00-\u9fff]{2,}|[\uac00-\ud7a3]{2,}|[a-z][a-z0-9]{3,}")  # CJK/Hangul runs, Latin words
# Grammar, not topic: Chinese function characters (a pair holding one is no term) and Korean particles (taken off a
# word's end). Language data, the same for every example.
ZH_FUNCTION = set("的了在和与是对把为个一以及其并将从被等或而这该于也都能可让使上中后过进行")
KO_PARTICLES = re.compile(r"(?:에서는|으로는|에서|에게|에도|에는|으로|까지|부터|입니다|합니다|을|를|이|가|은|는|의|에|로|와|과|도)$")
# Occurrences per example reply a Chinese pair or Korean word needs to be the example's topic: a passing word is said
# once, a generic one ("训练", "合成") twice across four replies, the topic ("光流", "手写") again and again; a
# language with one reply (Korean) has too few words to ask more than twice.
TOPIC_RECUR = 3
TOPIC_RECUR_ONE = 2
TOPIC_MIN = 2  # topic terms of one example, absent from this paper, that make a reply a copy (one: a word
#                the reply may share by chance, "评分" in a paper on scoring)
TOPIC_SUPPORT = 2  # the example abstract's own words this abstract must share before its topic is this paper's too


def topic_units(text: str) -> Counter:
    """A text's units for topic matching, counted: character pairs of its Chinese runs (no function character),
    its Korean words (particle off), its Latin words of 4+ letters (summary words left out)."""
    out: Counter = Counter()
    for run in TOPIC_UNIT.findall(text.lower()):
        if run[0].isascii():
            out.update([run] if run not in SUMMARY_WORDS else [])
        elif HANGUL.match(run):
            word = KO_PARTICLES.sub("", run)
            out.update([word if len(word) >= 2 else run])  # "풀이" keeps its "이": a word, not a particle
        else:
            out.update(p for i in range(len(run) - 1) if not ZH_FUNCTION & set(p := run[i:i + 2]))
    return out


@lru_cache(maxsize=16)
def example_topics(language: str) -> tuple[tuple[frozenset, frozenset, dict], ...]:
    """Per example paper (styles.EXAMPLE_PAPERS order): (the topic terms of its `language` replies, its own words,
    its glossary: each topic term found in the Chinese half of one of its replies' "中文 (English)" keywords → the
    words of the English half at the same place in it, those its abstract also uses).
    A topic term is a unit of that paper's replies that no other example paper's reply and no prompt text of the
    language holds; a Chinese pair or Korean word must also recur TOPIC_RECUR times per reply of that language
    (TOPIC_RECUR_ONE where the language has one). Own words: Latin words of its title, and those its abstract says twice, that no
    other example paper's title or abstract has."""
    from summarizer.styles import EXAMPLE_PAPERS, STYLES

    styles = [st for st in STYLES.values() if st.language == language and st.examples]
    replies = [[prose(parse_output(st, st.examples[i])) for st in styles if i < len(st.examples)]
               for i in range(len(EXAMPLE_PAPERS))]
    prompt = set().union(*(topic_units(f"{system_prompt(st)} {st.user}") for st in styles)) if styles else set()
    # An example's own words: its title's, and those its abstract says twice (its topic, not a passing word)
    own_words = [set(topic_units(e.title)) | {w for w, c in topic_units(e.abstract).items() if c >= 2}
                 for e in EXAMPLE_PAPERS]
    all_words = [set(topic_units(f"{e.title} {e.abstract}")) for e in EXAMPLE_PAPERS]
    out = []
    for i, texts in enumerate(replies):
        others = set().union(*(topic_units(t) for j, r in enumerate(replies) if j != i for t in r), prompt)
        counts = sum((topic_units(t) for t in texts), Counter())
        least = TOPIC_RECUR * len(texts) if len(texts) > 1 else TOPIC_RECUR_ONE
        terms = {u for u, c in counts.items() if u not in others and (u[0].isascii() or c >= least)}
        words = own_words[i] - set().union(*(w for j, w in enumerate(all_words) if j != i))
        glossary: dict[str, set[str]] = {}
        ex_words, ex_stems = _source_words(EXAMPLE_PAPERS[i])  # English words its own abstract uses, not the keyword's
        for st in styles:
            for _, items in _lists(st, parse_output(st, st.examples[i]), "keywords") if i < len(st.examples) else ():
                for zh, en in filter(None, map(_keyword_pair, items)):
                    zh, en_words = "".join(zh.split()), LATIN_TERM.findall(en.lower())
                    # Aligned by position: "音源分离 (Source Separation)" gives 分离 "separation", not "source"
                    for k in range(len(zh) - 1):
                        if (u := zh[k:k + 2]) in terms:
                            lo, hi = k * len(en_words) // len(zh), -(-(k + 2) * len(en_words) // len(zh))
                            glossary.setdefault(u, set()).update(w for w in en_words[lo:hi]
                                                                 if _grounded(w, ex_words, ex_stems))
        out.append((frozenset(terms), frozenset(words), {u: frozenset(w) for u, w in glossary.items()}))
    return tuple(out)


def example_topic(style: Style, text: str, paper: Paper) -> list[str]:
    """The topic terms of an example paper (see example_topics) that `text` holds and this paper's title and abstract
    do not: a Latin term when the abstract lacks it, a Chinese or Korean one when the abstract shares fewer than
    TOPIC_SUPPORT of the example abstract's own words. TOPIC_MIN of them, or the example paper's name alone, are a
    copy of that example's topic; else []. Every example of the style is asked, whichever the prompt showed: a
    verdict that is the reply's and its paper's alone (a day's papers are shown examples spread over them), and no
    honest summary carries another field's topic terms that its own abstract does not hold."""
    from summarizer.styles import EXAMPLE_PAPERS

    if not style.examples:
        return []
    words, stems = _source_words(paper)
    lowered, source = text.lower(), f"{paper.title} {paper.abstract}".lower()
    units = set(topic_units(text))
    for shown, (terms, own, glossary) in zip(EXAMPLE_PAPERS[:len(style.examples)], example_topics(style.language),
                                             strict=False):
        # An own word is shared when the abstract has it or a longer form of it ("math" in "mathematical")
        shared = sum(_grounded(w, words, stems) or any(x.startswith(w) for x in words) for w in own)
        # A Chinese term is also this paper's when the abstract holds a word of the English its example keyword gave
        # it (通道 of "通道选择 (Channel Selection)" in an abstract on a "three-channel" representation).
        hits = sorted(u for u in units & terms
                      if not (_grounded(u, words, stems) if u[0].isascii() else shared >= TOPIC_SUPPORT
                              or any(_grounded(w, words, stems) for w in glossary.get(u, ()))))
        # A Chinese term beside the English its keyword gives it is one term said twice ("网络" and "network")
        latin = {h for h in hits if h.isascii()}
        said, said_stems = latin, {h[:STEM] for h in latin if len(h) >= STEM_MIN}
        hits = [u for u in hits if u.isascii() or not any(_grounded(w, said, said_stems) for w in glossary.get(u, ()))]
        name = shown.name.lower()
        if name in lowered and name not in source:
            return [shown.name, *hits]
        if len(hits) >= TOPIC_MIN:
            return hits
    return []


def _keyword_pair(item) -> tuple[str, str] | None:
    """(Chinese half, English half) of an "English (中文)" or "中文 (English)" keyword; None for another shape."""
    if m := KEYWORD.match(str(item)):
        return m.group("zh"), m.group("en")
    m = ASKED_KEYWORD.match(str(item))
    return (m.group(1), m.group(2)) if m else None


def _keyword_en(item) -> str:
    """The English half of an "English (中文)" or "中文 (English)" keyword, lower-cased ("" for another shape)."""
    if m := KEYWORD.match(str(item)):
        return " ".join(m.group("en").lower().split())
    m = ASKED_KEYWORD.match(str(item))
    return " ".join(m.group(2).lower().split()) if m else ""


@lru_cache(maxsize=32)
def _example_keywords(style: Style) -> frozenset:
    """English halves of the keywords in the style's example replies."""
    keyword_fields = _keyword_fields(style)
    if not keyword_fields:
        return frozenset()
    parsed = [parse_output(style, example) or {} for example in style.examples]
    return frozenset(en for fields in parsed for name in keyword_fields for k in fields.get(name) or []
                     if (en := _keyword_en(k)))


def duplicates(summaries: dict[str, str]) -> dict[str, Problem]:
    """Papers whose summary is nearly the same as another paper's summary in the same digest: both are named."""
    ids = list(summaries)
    out: dict[str, Problem] = {}
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            if similarity(summaries[a], summaries[b]) >= DUPLICATE:
                for x, y in ((a, b), (b, a)):
                    out.setdefault(x, Problem("duplicate", f"This summary is nearly the same as the one for paper {y}; "
                                                           "write about this paper's own abstract."))
    return out


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




def check_coverage(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """Translations: every number of the abstract is kept, and the end of the abstract is translated too (a
    translation that stops after the first sentences can still pass the length rule)."""
    if style.kind != "translate" or not paper.abstract:
        return []
    text = prose(fields)
    if not text:
        return []
    kept = numbers(text)
    missing = [raw for raw, unit in NUMBER.findall(URL.sub(" ", paper.abstract)) if not numbers(raw + unit) & kept]
    if missing:
        return [Problem("coverage", f"Translate the whole abstract, keeping every number ({missing[0]} is missing).")]
    sentences = [s for s in SENTENCE.findall(paper.abstract) if s.strip()]
    tail = " ".join(sentences[len(sentences) - max(1, len(sentences) // 3):])  # the last third (one sentence at least)
    anchors = set(ANCHOR.findall(URL.sub(" ", tail)))
    if anchors and not any(a.lower() in text.lower() for a in anchors):
        return [Problem("coverage", "Translate the whole abstract: its last sentences (with "
                                    f"{sorted(anchors)[0]}) are missing.")]
    return []


def check_fragments(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """No list item is a piece of an abstract sentence word for word (the abstract cut at its commas)."""
    for _, items in _lists(style, fields, "list"):
        if cut := abstract_fragments(items, paper):
            return [Problem("fragment", f"Write each item as a sentence of your own: \"{cut[0][:QUOTE]}\" is a "
                                        "piece of an abstract sentence.")]
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
    "copy": check_copy,
    "fragment": check_fragments,
    "length": check_length,
    "coverage": check_coverage,
}


SENTENCE_END = re.compile(r"[。！？!?]|\.(?=\s|$)")  # "91.5%" does not end a sentence; "。" and ". " do
LIST_SEPARATOR = re.compile(r"[，、；;]|,\s")  # "a, b, c" / "甲、乙、丙": a list written on one line
# Where one sentence ends and the next starts inside an item: "다. " / "。" (a Hangul syllable before the period, so
# "e.g. " or "Fig. 3" in a Korean bullet ends nothing).
SENTENCE_BREAK = re.compile(r"(?<=[\uac00-\ud7a3][.!?])\s+|(?<=[。！？])\s*")


def repair(style: Style, fields: dict, paper: Paper) -> tuple[dict, list[str]]:
    """Layout problems no model is needed for, fixed: (fields, one note per repair for the sidecar).

    A score outside the scale is brought to its nearest end; a list written on one line is split (at its sentence
    ends where each item is a sentence, `Field.sentence_items`: never at its commas there); repeated items are
    dropped; a list or keyword field with too many items keeps the first max_items, keywords
    preferring well-shaped ones whose English half is in the abstract; score lines written inside another list
    (SCORES: marker forgotten) move to the scores field. Content (language, numbers, grounding) is never touched.
    """
    fields = {k: ({s: dict(v) for s, v in val.items()} if isinstance(val, dict) else val) for k, val in fields.items()}
    notes: list[str] = []
    words, stems = _source_words(paper)
    for f in style.fields:
        if f.kind == "scores" and not fields.get(f.name):
            for other in style.fields:
                items = fields.get(other.name)
                if other.kind in ("list", "keywords") and isinstance(items, list):
                    found = parse_scores("\n".join(i for i in items if parse_scores(i)))
                    if len(found) == len(SCORE_LABELS):
                        fields[f.name] = found
                        fields[other.name] = [i for i in items if not parse_scores(i)]
                        notes.append(f"{f.marker}: moved from {other.marker}:")
                        break
    for f in style.fields:
        value = fields.get(f.name)
        if f.kind == "scores" and isinstance(value, dict):  # a reason is one sentence: a runaway one is cut there
            for item in value.values():
                score, (lo, hi) = item.get("score"), SCORE_RANGE
                # "6" on the 1-5 scale says "the top", which is what 5 means.
                if isinstance(score, int) and not isinstance(score, bool) and not lo <= score <= hi:
                    item["score"] = min(hi, max(lo, score))
                    notes.append(f"{f.marker}: score {score} brought into {lo}-{hi}")
                reason = str(item.get("reason", "")).strip()
                end = SENTENCE_END.search(reason)
                if end and reason[:end.end()].strip() != reason:
                    item["reason"] = reason[:end.end()].strip()
                    notes.append(f"{f.marker}: a reason cut to its first sentence")
    for f in style.fields:
        items = fields.get(f.name)
        if f.kind not in ("list", "keywords") or not isinstance(items, list):
            continue
        if f.sentence_items and len(split := [x.strip() for i in items for x in SENTENCE_BREAK.split(str(i))
                                              if x.strip()]) != len(items):
            notes.append(f"{f.marker or f.name}: {len(items)} items split into {len(split)} sentences")
            fields[f.name] = items = split
        if (len(items) == 1 and f.min_items >= 2 and not f.sentence_items
                and len(parts := [x.strip() for x in LIST_SEPARATOR.split(items[0]) if x.strip()]) >= f.min_items):
            notes.append(f"{f.marker or f.name}: one line split into {len(parts)} items")
            fields[f.name] = items = parts
        unique = list(dict.fromkeys(items))
        if f.kind == "keywords" and len(unique) > f.max_items:
            def rank(k: str) -> int:  # 0: shaped and grounded, 1: shaped, 2: neither; stable within a rank
                m = KEYWORD.match(k)
                if not m:
                    return 2
                en = LATIN_TERM.findall(m.group("en").lower())
                return 0 if en and all(_grounded(w, words, stems) for w in en) else 1
            keep = set(sorted(range(len(unique)), key=lambda i: (rank(unique[i]), i))[: f.max_items])
            unique = [k for i, k in enumerate(unique) if i in keep]
        unique = unique[: f.max_items] if f.max_items else unique
        if len(unique) != len(items):
            notes.append(f"{f.marker or f.name}: kept {len(unique)} of {len(items)} items")
            fields[f.name] = unique
    return fields, notes


def validate(style: Style, fields: dict, paper: Paper) -> list[Problem]:
    """Every rule's problems, in RULES order; empty means valid."""
    return [p for check in RULES.values() for p in check(style, fields, paper)]


@dataclass(frozen=True)
class Checked:
    fields: dict | None  # parsed and repaired fields; None when the reply has none of the style's layout
    repairs: list[str]  # layout repairs made (see repair)
    problems: list[Problem]  # empty: valid; a reply without layout has one "format" problem


def check_reply(style: Style, text: str, paper: Paper) -> Checked:
    """A model's raw reply → parse, repair the layout, validate: the one verdict the digest and eval share."""
    try:
        fields, repairs = repair(style, parse_output(style, text), paper)
    except OutputFormatError as exc:
        return Checked(None, [], [Problem("format", str(exc))])
    return Checked(fields, repairs, validate(style, fields, paper))


# The rules' version: a hash of the modules they live in, so that no change to a rule can forget to bump it. A digest
# records it, and validates an earlier run's records again before reusing them when it differs (a comment's edit
# costs that check, never a generation). What the style itself asks (fields, examples) is the prompt version's.
RULES_VERSION = sha256(b"".join((Path(__file__).parent / name).read_bytes()
                                for name in ("validate.py", "text.py"))).hexdigest()[:12]
