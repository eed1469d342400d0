"""Prompt building: a Style (see styles.py) and a Paper become a Prompt; the model's reply is parsed back into fields."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from functools import lru_cache

from summarizer import SummarizerError
from summarizer.papers import Paper
from summarizer.styles import EXAMPLE_PAPERS, SCORE_LABELS, STYLES, ExamplePaper, Field, Style
from summarizer.text import BULLET, asked_keyword, keyword, one_line, plain, score_line


@dataclass(frozen=True)
class Prompt:
    key: str  # the paper id; warnings name it and results come back in input order
    system: str  # instructions; never truncated
    user: str  # the user turn; holds the literal marker "{abstract}" exactly once (str.replace, not format)
    abstract: str  # data, not instructions: the only part the engine may shorten to fit the context
    target_lang: str | None = None  # seq2seq translators: target language code (e.g. "ko", "kor_Hang")
    source_lang: str | None = None  # seq2seq translators: source language code (e.g. "en", "eng_Latn")
    # The first characters of the reply, written for the model (causal models only): "-" makes a 135M model start
    # its bullet list instead of a title or HTML. The engine puts it back in front of the generated text.
    prefill: str = ""
    # Few-shot turns shown before this one, as (user turn, assistant reply) pairs: an input *and* its reply, so a small
    # model learns the mapping rather than a text to copy.
    shots: tuple[tuple[str, str], ...] = ()
    # The reply's language ("en", "zh", "ko"); the engine suppresses tokens in a script it never writes
    # (text.OTHER_SCRIPT) unless this prompt holds them. None = any script.
    language: str | None = None
    # The paper's title (data, as the user turn shows it): what a section's check grounds names and numbers in, with
    # the abstract (see compose.SECTION_REDRAWS).
    title: str = ""

    def filled(self, abstract: str | None = None) -> str:
        """The user turn with the (possibly shortened) abstract put in place."""
        return self.user.replace("{abstract}", self.abstract if abstract is None else abstract, 1)


class OutputFormatError(SummarizerError):
    """The model's reply has none of the layout its style asks for (no markers, no bullets, nothing left)."""


_ABSTRACT = "{abstract}"


def _data(text: str) -> str:
    """Neutralize text that could close our delimiters or add a second abstract marker (data stays data)."""
    text = re.sub(r"</?\s*(abstract|previous_answer)\s*>", "", text, flags=re.IGNORECASE)
    return text.replace(_ABSTRACT, "(abstract)")


def count_phrase(field: Field) -> str:
    """How many items a list or keywords field takes, from its Field limits: "exactly 5" or "1 to 5"."""
    if field.min_items == field.max_items:
        return f"exactly {field.max_items}"
    return f"{field.min_items} to {field.max_items}"


SCORE_RANGE = (1, 5)  # scores are integers in this range (validate.check_scores holds the same tuple)


def layout(style: Style) -> str:
    """The reply layout derived from the style's fields: a skeleton whose ［］ slots say what goes where (no content
    to copy), then one rule per counted field. "" for a style whose reply is one plain text (translations)."""
    skeleton: list[str] = []
    rules: list[str] = []
    for f in style.fields:
        name = f"{f.marker}:" if f.marker else "Reply with"
        if f.kind == "text":
            if f.marker:
                skeleton.append(f"{f.marker}: ［{f.hint}］")
            continue
        if f.marker:
            skeleton.append(f"{f.marker}:")
        if f.kind == "scores":
            lo, hi = SCORE_RANGE
            skeleton += [f"- {label}: ［{f.hint}］" for label in SCORE_LABELS.values()]
            rules.append(f"{name} {', '.join(SCORE_LABELS.values())}, each an integer from {lo} to {hi}, "
                         "then \" - \" and a one-sentence reason.")
            continue
        shown = f.max_items if f.min_items == f.max_items else max(f.min_items, min(3, f.max_items))
        slot = f"［{f.hint}］"
        skeleton += [f"- {slot}"] * shown
        # Keywords are asked for as "中文 (English)", the order the 0.5B model writes them in; the parser (text.keyword)
        # turns them round to the published "English (中文)" (asked for that way, it wrote Chinese-only terms), and
        # format_output writes a fine-tuning target the way it is asked for here.
        shape = ", each \"中文术语 (English term)\"" if f.kind == "keywords" else ", each on its own line"
        rules.append(f"{name} {count_phrase(f)} bullets starting with \"- \"{shape}.")
    if not skeleton:
        return ""
    return ("Reply in exactly this layout. Text in ［］ says what to write there: replace it with facts from the "
            "abstract, never copy it.\n" + "\n".join(skeleton) + "\n" + " ".join(rules)).strip()


def system_prompt(style: Style) -> str:
    """The style's system prompt followed by the layout derived from its fields (when the style shows one)."""
    shape = layout(style) if style.with_layout else ""
    return f"{style.system}\n\n{shape}".strip() if shape else style.system


def _user_turn(style: Style, title: str) -> str:
    title = " ".join(_data(title).split())
    return style.user.replace("{title}", title).replace("{min_items}", str(style.fields[0].min_items))


def _trigrams(text: str) -> set[str]:
    text = " ".join(text.lower().split())
    return {text[i:i + 3] for i in range(len(text) - 2)}


@lru_cache(maxsize=8)
def _example_trigrams() -> tuple[set[str], ...]:
    return tuple(_trigrams(f"{e.title} {e.abstract}") for e in EXAMPLE_PAPERS)


def _likeness(paper: Paper, k: int) -> list[float]:
    """How like each of the first `k` example papers this paper's title and abstract are: the share of the example's
    character trigrams the paper holds (a Jaccard index would favour the shortest example abstract for every long
    one)."""
    grams = _trigrams(f"{paper.title} {paper.abstract}")
    return [len(grams & g) / (len(g) or 1) for g in _example_trigrams()[:k]]


def example_for(style: Style, paper: Paper) -> tuple[str, ExamplePaper | None]:
    """(the example reply a paper's prompt shows when it is written alone, its example paper): of the style's
    examples, the one whose paper is least like this paper, the first on a tie. A model that copies from the example
    then copies a topic visibly not its paper's, which the copy rules catch; ("", None) for a style without
    examples. A day's papers are assigned theirs together (assign_examples)."""
    if not style.examples:
        return "", None
    like = _likeness(paper, len(style.examples))
    i = min(range(len(like)), key=lambda k: (like[k], k))
    return style.examples[i], EXAMPLE_PAPERS[i]


def assign_examples(style: Style, papers: list[Paper]) -> dict[str, ExamplePaper]:
    """The example paper each of a day's papers is shown (by paper id; {} for a style without examples): every
    example to at most ceil(n / k) of the n papers, and each paper the least like it among the examples with room
    (pairs taken from the least alike up). Shown each paper's least-like example alone, most of a day's papers on one
    field got the same one, and a small model that carries the shown example's scores over gave them all one score
    triple; spread evenly, no example's pattern reaches more than about 1/k of the day."""
    k = len(style.examples)
    if not k or not papers:
        return {}
    room = [-(-len(papers) // k)] * k
    pairs = sorted((like, n, i) for n, p in enumerate(papers) for i, like in enumerate(_likeness(p, k)))
    chosen: dict[int, int] = {}
    for _, n, i in pairs:
        if n not in chosen and room[i]:
            chosen[n], room[i] = i, room[i] - 1
    return {papers[n].id: EXAMPLE_PAPERS[i] for n, i in chosen.items()}


def build_prompt(style: Style, paper: Paper, shown: ExamplePaper | None = None) -> Prompt:
    """The prompt for one paper: fixed instructions (and an example paper's turn, for styles that show one: `shown`,
    by default example_for's), then the title and the delimited abstract as data."""
    shots = ()
    if style.shot and style.examples and style.kind == "summary":
        shown = shown or example_for(style, paper)[1]
        reply = style.examples[EXAMPLE_PAPERS.index(shown)]
        shots = ((_user_turn(style, shown.title).replace(_ABSTRACT, shown.abstract), reply),)
    return Prompt(
        key=paper.id, system=system_prompt(style), user=_user_turn(style, paper.title), abstract=_data(paper.abstract),
        target_lang=style.target_lang if style.kind == "translate" else None,
        source_lang=style.source_lang if style.kind == "translate" else None, prefill=style.prefill, shots=shots,
        language=style.language, title=paper.title,
    )


def prompt_for_row(row: dict) -> Prompt:
    """The inference prompt of a dataset row (id, style, title, abstract): what fine-tuning trains on and evaluation
    generates from, rebuilt with the current style so that both always match `summarizer digest`."""
    paper = Paper(id=row["id"], title=row["title"], abstract=row["abstract"], date=row.get("date") or "")
    return build_prompt(STYLES[row["style"]], paper)


CONTENT_RULES = ("copy", "duplicate", "grounding")  # the reply was about something else: never shown back


def repair_prompt(style: Style, paper: Paper, problems: list[dict], shown: ExamplePaper | None = None) -> Prompt:
    """A retry prompt: the same task plus what was wrong with the previous reply (the sidecar's problem dicts,
    {"rule", "message"}).

    The rejected reply itself is never shown: a 0.5B model copies what it is shown (a copied example came back
    copied again; a rejected translation came back verbatim inside the tags that quoted it). Only what was wrong
    is said, and for a reply that was not about this paper, which paper it must be about. `shown`: the example
    paper of the first prompt (build_prompt's).
    """
    base = build_prompt(style, paper, shown)
    fix = "\n".join(f"- {p['message']}" for p in problems) or "- it did not follow the layout"
    shown = "Your previous reply was rejected"
    if any(p["rule"] in CONTENT_RULES for p in problems):
        shown += f": it was not about this paper ({' '.join(_data(paper.title).split())})"
    user = (f"{base.user}\n\n{shown}.\nProblems:\n{fix}\n"
            "Write the whole reply again in the exact layout, fixing these problems.")
    return dataclasses.replace(base, user=user)


# ---- parsing: the model's reply -> {field name: str | list[str] | dict}

_FENCE = re.compile(r"^```[\w-]*\s*\n?|\n?```\s*$")
_SPECIAL = re.compile(r"<\|[^|>]*\|>|</s>|<eos>")


_WRAPPER = re.compile(r"^\s*<(abstract|translation)>\s*|\s*</(abstract|translation)>\s*$", re.IGNORECASE)


def _clean(text: str) -> str:
    """Special tokens, code fences and the prompt's own delimiters wrapped around the reply (a translation put back
    between <abstract> tags) taken off."""
    text = _WRAPPER.sub("", _SPECIAL.sub("", text.replace("\r\n", "\n")).strip())
    while _FENCE.search(text):
        stripped = _FENCE.sub("", text).strip()
        if stripped == text:
            break
        text = stripped
    return text


def _marker_re(style: Style) -> re.Pattern | None:
    names = {}
    for f in style.fields:
        for m in (f.marker, *f.aliases):
            if m:
                names[m.upper()] = f.name
                names[m.upper().replace("_", " ")] = f.name
    if not any(f.marker for f in style.fields):
        return None
    alt = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    # A marker line: optional numbering/bullet/#/**, the marker, optional ** and a (full-width) colon.
    return re.compile(
        rf"^[ \t]*(?:#+[ \t]*)?(?:\*\*)?(?:\d+[.)、][ \t]*)?(?:[-*][ \t]+)?(?:\*\*)?[ \t]*({alt})[ \t]*(?:\*\*)?"
        rf"[ \t]*(?:[:：][ \t]*(?:\*\*)?|$)",  # a colon, or the marker alone on its line (a heading)
        re.IGNORECASE | re.MULTILINE,
    ), names


def _items(body: str, first_block: bool = False) -> list[str]:
    """Bullet items; unbulleted lines continue the previous item (or start one when there is none).

    first_block: stop at the end of the first list (a blank line then prose, or numbering restarting at 1) --
    small models ramble or loop after the list, and only the list is the reply.
    """
    items: list[str] = []
    blank = False
    for line in body.split("\n"):
        if not line.strip():
            blank = True
            continue
        bullet = BULLET.match(line)
        if first_block and items and ((blank and not bullet) or (bullet and re.match(r"\s*[(（]?1[.)）、．]", line))):
            break
        blank = False
        if bullet:
            items.append(plain(line))
        elif items:
            items[-1] = f"{items[-1]} {plain(line)}".strip()
        else:
            items.append(plain(line))
    return [i for i in items if i]


PREAMBLE_MAX = 80  # characters: a preamble is one short line ending in a colon; a longer head is the reply's prose


def _preamble_dropped(text: str) -> str:
    """Drop chatty lines before the first bullet ("Here are the bullet points:")."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if BULLET.match(line):
            head = " ".join(lines[:i]).strip()
            if len(head) < PREAMBLE_MAX and (not head or head.endswith((":", "："))):
                return "\n".join(lines[i:])
            return text
    return text


def parse_scores(body: str) -> dict:
    """Score lines → {key: {"score": int (float when the model wrote one), "reason": str}}; a line that is no score
    line continues the reason above it."""
    scores: dict = {}
    last = None
    for line in body.split("\n"):
        found = score_line(line)
        if found and found[0] not in scores:
            key, value, reason = found
            scores[key] = {"score": int(value) if value.is_integer() else value, "reason": reason}
            last = key
        elif (text := plain(line)) and last:  # a reason written on the following line(s)
            scores[last]["reason"] = f"{scores[last]['reason']} {text}".strip()
    return scores


def _convert(field: Field, body: str):
    body = body.strip()
    if field.kind == "list":
        return _items(body)
    if field.kind == "keywords":
        return [keyword(i) for i in _items(body)]
    if field.kind == "scores":
        return parse_scores(body)
    lines = [plain(ln) if len(body.split("\n")) == 1 else ln.strip()
             for ln in body.split("\n")]
    return "\n".join(ln for ln in lines if ln).strip()


def _from_json(style: Style, text: str) -> dict | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    lowered = {str(k).lower(): v for k, v in data.items()}
    out = {}
    for f in style.fields:
        for k in (f.name, f.marker, *f.aliases):
            if k and k.lower() in lowered:
                v = lowered[k.lower()]
                out[f.name] = _convert(f, "\n".join(f"- {x}" for x in v) if isinstance(v, list) else str(v))
                break
    return out or None


def parse_output(style: Style, text: str) -> dict:
    """The model's reply -> the style's prose fields (missing sections come back empty for validate to name)."""
    text = _clean(text)
    if not text:
        raise OutputFormatError(f"The {style.name} reply is empty.")
    if text.startswith("{") and (parsed := _from_json(style, text)) is not None:
        return {f.name: parsed.get(f.name, [] if f.kind in ("list", "keywords") else "") for f in style.fields}
    found = _marker_re(style)
    if found is None:  # single-field style: the whole reply is the field
        field = style.fields[0]
        if field.kind == "list":
            if not any(BULLET.match(line) for line in text.split("\n")):
                # No bullet marks at all: one item per line, or per sentence of a lone paragraph.
                lines = [ln for ln in text.split("\n") if ln.strip()]
                text = "\n".join(lines if len(lines) > 1 else re.split(r"(?<=[.!?。！？])\s+", text))
                text = "\n".join(f"- {ln}" for ln in text.split("\n") if ln.strip())
            items = _items(_preamble_dropped(text), first_block=True)
            if not items:
                raise OutputFormatError(f"The {style.name} reply has no bullet points.")
            return {field.name: items}
        for alias in field.aliases:  # a leading "Translation:" label is not part of the translation
            text = re.sub(rf"^\s*\**{re.escape(alias)}\**\s*[:：]\s*", "", text, flags=re.IGNORECASE)
        return {field.name: text.strip()}
    pattern, names = found
    hits = list(pattern.finditer(text))
    if not hits:
        raise OutputFormatError(
            f"The {style.name} reply has none of the section markers "
            f"{', '.join(f.marker + ':' for f in style.fields)}."
        )
    bodies: dict[str, str] = {}
    for i, m in enumerate(hits):
        name = names[m.group(1).upper()]
        end = hits[i + 1].start() if i + 1 < len(hits) else len(text)
        bodies.setdefault(name, text[m.end():end])
    return {f.name: _convert(f, bodies.get(f.name, "")) for f in style.fields}


def format_output(style: Style, fields: dict) -> str:
    """Fields -> the exact reply layout the prompt asks for (the inverse of parse_output; fine-tuning targets).
    An item or reason is kept on one line (its inner whitespace folded), as the layout needs."""
    blocks = []
    for f in style.fields:
        value = fields.get(f.name)
        if f.kind == "scores":
            lines = [f"- {label}: {value[k]['score']} - {one_line(value[k]['reason'])}"
                     for k, label in SCORE_LABELS.items() if k in (value or {})]
            body = "\n".join(lines)
        elif f.kind == "keywords":  # asked for "中文 (English)"; parse_output turns them back
            body = "\n".join(f"- {asked_keyword(one_line(item))}" for item in value or [])
        elif f.kind == "list":
            body = "\n".join(f"- {one_line(item)}" for item in value or [])
        else:
            body = str(value or "").strip()
        if not f.marker:
            blocks.append(body)
        elif f.kind in ("list", "keywords", "scores"):
            blocks.append(f"{f.marker}:\n{body}")
        else:
            blocks.append(f"{f.marker}: {body}")
    return "\n".join(blocks).strip()
