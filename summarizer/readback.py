"""Digest Markdown read back into each paper's prose fields: our own rendered pages and the drifted real-world ones.

Pure functions. `parse_markdown(text)` → `ParsedEntry`s keyed by arXiv id (title-only when a page links none).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from summarizer import SummarizerError
from summarizer.papers import normalize_id
from summarizer.render import unescape
from summarizer.styles import SCORE_LABELS, STYLES, Style
from summarizer.text import BULLET, CJK, HANGUL, keyword, plain, score_line


@dataclass(frozen=True)
class ParsedEntry:
    id: str | None  # arXiv id; None when the page links none (real zh-details pages): joined by title later
    title: str  # the paper title as the page shows it (whitespace collapsed)
    style: str  # a STYLES key
    date: str | None  # the page's day when it says one
    fields: dict  # the style's prose fields in parse_output's shape; may be incomplete (validate names it)
    source: str  # "file#n" for messages
    skip: str | None = None  # why this entry gives no example (failed/repeat in our render), else None
    notes: tuple[str, ...] = field(default=())  # lossy changes, e.g. a 4.5 score rounded to 5
    # Who wrote the summary: a sidecar's model (preset or file, and its hash), the JSONL's large model, or "" for a
    # published page whose writer is unknown. A model trained on a weaker model's output should say so.
    writer: str = ""
    attempt: int | None = None  # a sidecar's pass that wrote it (0: the greedy first pass); None when unknown
    prompt_version: str = ""  # the style's prompt version the summary was written under; "" when unknown


_MARKER = re.compile(r"^<!--\s*paper:(\S+)((?:\s+\w+:\w+)*)\s*-->\s*$", re.M)
_DATE = re.compile(
    r"【(\d{4}-\d{2}-\d{2})】|Daily Papers \((\d{4}-\d{2}-\d{2})\)|papers\?date=(\d{4}-\d{2}-\d{2})|"
    r"badge/Date-(\d{4}--\d{2}--\d{2})"
)
_LABEL = re.compile(  # a heading-like line: "### 1. X", "**1. X：**", "1. **X**：", "- **X**"
    r"^\s*(?:#{1,6}\s+)?(?:[-*]\s+)?(?:\d[.、]\s*)?(?:\*\*)?\s*(?:\d[.、]\s*)?(?P<label>[^*\n]{1,48}?)"
    r"\s*(?:\*\*)?\s*[:：]?\s*(?:\*\*)?\s*[:：]?\s*$"
)
# Headings the real pages use that are not among a style's aliases.
_EXTRA_ALIASES = {"scores": ("速评", "评估"), "work": ("主要工作",)}
_KEEP_PREFIX = re.compile(r"^(?:论文标题|标题|主题分类/关键词|主题分类|关键词|标签)\s*[:：]\s*")


def page_date(text: str, name: str = "") -> str | None:
    """The day a page is about: from its file name, else its header, link or Date badge."""
    m = re.search(r"\d{4}-\d{2}-\d{2}", name)
    if m:
        return m.group(0)
    m = _DATE.search(text)
    return next((g.replace("--", "-") for g in m.groups() if g), None) if m else None


def detect_style(text: str, hint: str = "") -> str:
    """The style of a page: `hint` (e.g. the digests/<style>/ folder) when it names one, else the page's shape."""
    if hint in STYLES:
        return hint
    if re.search(r"^#{2,4} TLDR\s*$", text, re.M):  # before zh-digest: a TLDR page may say 关键词 and link HF
        return "zh-tldr"
    if "<details>" in text and "badge/Date-" in text:
        return "zh-details"
    if re.search(r"^# .+\n\[[^\]]*\]\(https?://arxiv\.org/pdf/", text, re.M):
        return "zh-notes"
    if "huggingface.co/papers/" in text and "关键词" in text:
        return "zh-digest"
    if re.search(r"^### \[.+\]\(https?://arxiv\.org/abs/", text, re.M):
        lang = "ko" if len(HANGUL.findall(text)) > 50 else "zh" if len(CJK.findall(text)) > 50 else "en"
        bulleted = len(re.findall(r"^- ", text, re.M)) >= 2 * len(re.findall(r"^### \[", text, re.M))
        if lang == "en":
            return "en-bullets"
        return f"{lang}-bullets" if bulleted and lang == "ko" else f"{lang}-translate"
    raise SummarizerError("The page matches none of the digest formats (zh-digest, zh-details, zh-notes, zh-tldr, "
                          "bullets, translate); pass --style.")


# ---- splitting a page into (id, title, chunk) entries

def _split_marked(text: str) -> list[tuple[str | None, str, str | None]]:
    """Our rendered pages: one chunk per `<!-- paper:ID -->` comment; the page footer (## License...) cut off."""
    hits = list(_MARKER.finditer(text))
    out = []
    for i, m in enumerate(hits):
        chunk = text[m.end(): hits[i + 1].start() if i + 1 < len(hits) else len(text)].strip("\n")
        lines = chunk.split("\n")
        cut = next((k for k in range(1, len(lines)) if lines[k].startswith("## ")), len(lines))
        status = re.search(r"status:(\w+)", m.group(2) or "")
        out.append((m.group(1), "\n".join(lines[:cut]), status.group(1) if status else None))
    return out


def _split_real(text: str, layout: str) -> list[tuple[str | None, str, str | None]]:
    lines = text.split("\n")
    if layout in ("digest", "tldr"):
        starts = [i for i, ln in enumerate(lines) if ln.startswith("## ")]
    elif layout == "notes":
        starts = [i for i, ln in enumerate(lines) if ln.startswith("# ")]
    elif layout == "details":
        starts = [i for i, ln in enumerate(lines) if ln.startswith("#### ")
                  and any("badge/Date-" in x for x in lines[i + 1:i + 4])]
    else:
        starts = [i for i, ln in enumerate(lines) if re.match(r"^### \[", ln)]
    out = []
    for n, s in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        chunk = lines[s:end]
        if layout in ("bullets", "translate"):  # the page wrapper's sections follow the last paper
            chunk = chunk[: next((k for k in range(1, len(chunk)) if chunk[k].startswith("## ")), len(chunk))]
        out.append((None, "\n".join(chunk), None))
    return out


def _title_and_id(chunk: str, layout: str) -> tuple[str, str | None]:
    lines = chunk.split("\n")
    m = re.match(r"^#+\s*\[(.+)\]\((\S+)\)", lines[0])
    if m:
        return unescape(" ".join(m.group(1).split())), normalize_id(m.group(2))
    title = re.sub(r"^#+\s*", "", lines[0])
    if layout == "details":  # a long title can wrap onto the lines before the badges
        for ln in lines[1:4]:
            if "badge/" in ln:
                break
            title += " " + ln
    link = re.search(r"(?:huggingface\.co/papers|arxiv\.org/(?:abs|pdf))/[\w./-]+", chunk)
    return unescape(" ".join(title.split())), normalize_id(link.group(0)) if link else None


# ---- field conversion

def _plain(line: str) -> str:
    """A page line's text: text.plain, then the page's escapes (render.text) undone."""
    return unescape(plain(line))


def _items(lines: list[str]) -> list[str]:
    """Bullet items; an indented or unbulleted line continues the item above it."""
    items: list[str] = []
    for ln in lines:
        if not ln.strip():
            continue
        if BULLET.match(ln) or not items:
            items.append(_plain(ln))
        else:
            items[-1] = f"{items[-1]} {_plain(ln)}".strip()
    return [i for i in items if i]


def _list(lines: list[str], max_items: int, split_inline: bool) -> list[str]:
    if any(BULLET.match(ln) for ln in lines):
        items = _items(lines)
    else:
        text = " ".join(_plain(ln) for ln in lines if ln.strip())
        items = [s.strip() for s in re.split(r"(?<=[。！？!?])\s*", text) if s.strip()]
        items = items if 1 <= len(items) <= max(max_items, 1) else [text] if text else []
    if split_inline and len(items) == 1:  # "标签A、标签B、标签C" on one line
        items = [p.strip() for p in re.split(r"[、,，;；]", _KEEP_PREFIX.sub("", items[0])) if p.strip()]
    return items


def scores(lines: list[str]) -> tuple[dict, list[str]]:
    """Score lines in every drift ("4分", "4/5", "4.5/5。reason", reason bullets below, one shared reason
    paragraph) → {key: {"score": int, "reason": str}}; x.5 is rounded half up and noted."""
    by_label = {label: key for key, label in SCORE_LABELS.items()}
    out: dict = {}
    notes: list[str] = []
    shared: list[str] = []
    last, last_indent = None, 0
    for ln in lines:
        if not ln.strip():
            continue
        indent = len(ln) - len(ln.lstrip())
        found = score_line(unescape(ln))
        if found and found[0] not in out:
            key, value, reason = found
            score = math.floor(value + 0.5)
            if score != value:
                notes.append(f"{SCORE_LABELS[key]} {value:g} rounded to {score}")
            last, last_indent = key, indent
            out[last] = {"score": score, "reason": reason}
        elif last and not out[last]["reason"] and indent > last_indent:
            out[last]["reason"] = _plain(ln)
        else:
            shared.append(re.sub(r"^(?:理由|原因|评价)\s*[:：]\s*", "", _plain(ln)))
    # One reason paragraph for all three: each sentence goes to the scores it names.
    sentences = [s for s in re.split(r"(?<=[。！？])", " ".join(shared)) if s.strip()]
    current = None
    for s in sentences:
        named = [key for label, key in by_label.items() if label[:2] in s]
        for key in named or ([current] if current else []):
            if key in out and not out[key]["reason"].endswith(s.strip()):
                out[key]["reason"] = f"{out[key]['reason']}{s.strip()}"
        current = named[-1] if named else current
    return out, notes


def _classify(label: str, style: Style) -> tuple[str | None, str]:
    """(field name, text after the alias) for a heading label, by the earliest (then longest) alias in it."""
    best = None
    for f in style.fields:
        for alias in (f.marker, *f.aliases, *_EXTRA_ALIASES.get(f.name, ())):
            if not alias:
                continue
            pos = label.upper().find(alias.upper())
            if pos >= 0 and (best is None or (pos, -len(alias)) < (best[0], -best[1])):
                best = (pos, len(alias), f.name)
    if best is None:
        return None, ""
    rest = re.sub(r"^\s*\d*\s*[:：]?\s*", "", label[best[0] + best[1]:])
    return best[2], rest.strip()


def _blocks(lines: list[str], style: Style) -> list[tuple[str | None, str, list[str]]]:
    """(field, heading rest, body lines) blocks; unknown headings are body text of the block they are in."""
    blocks: list[tuple[str | None, str, list[str]]] = [(None, "", [])]
    for ln in lines:
        m = _LABEL.match(ln) if (ln.lstrip().startswith("#") or "**" in ln) else None
        name, rest = _classify(m.group("label"), style) if m else (None, "")
        if name:
            blocks.append((name, rest, []))
        elif m and ln.lstrip().startswith("#"):  # another section (作者信息, 关键图表与数据, ...): not ours
            blocks.append((None, "", []))
        else:
            blocks[-1][2].append(re.sub(r"\*\*", "", re.sub(r"^\s*#+\s*", "", ln)))
    return blocks


def fields_from_chunk(style: Style, chunk: str, layout: str) -> tuple[dict, list[str]]:
    """One paper's chunk of a page → (the style's fields, notes)."""
    lines = chunk.split("\n")[1:]
    body = [ln for ln in lines if not re.match(r"^\s*(?:!\[|<img|<video|<source|</video|<iframe|<div|</div|"
                                                r"<details|</details|<summary|<hr|Authors:|\[arxiv_pdf_url\]|"
                                                r"\[到 Huggingface)", ln) and "badge/" not in ln]
    if layout in ("bullets", "translate"):
        f = style.fields[0]
        if f.kind == "list":
            return {f.name: _items([ln for ln in body if BULLET.match(ln)])}, []
        paras = re.split(r"\n\s*\n", "\n".join(ln for ln in body if not ln.startswith(">")).strip())
        return {f.name: "\n\n".join(unescape(" ".join(p.split())) for p in paras if p.strip())}, []
    kinds = {f.name: f for f in style.fields}
    grouped: dict[str, list] = {}
    for name, rest, blines in _blocks(body, style):
        if name:
            grouped.setdefault(name, []).append((rest, blines))
    out: dict = {}
    notes: list[str] = []
    for name, parts in grouped.items():
        f = kinds[name]
        if f.kind == "scores":
            out[name], notes = scores([ln for _, b in parts for ln in b])
        elif f.kind == "keywords":
            out[name] = [keyword(i) for i in _items([ln for _, b in parts for ln in b])]
        elif f.kind == "list" and any(rest for rest, _ in parts):  # "挑战1：X" headings: one item each
            out[name] = [f"{rest}: {' '.join(_plain(x) for x in b if x.strip())}".strip(": ")
                         for rest, b in parts if rest]
        elif f.kind == "list":
            out[name] = _list([ln for _, b in parts for ln in b], f.max_items, split_inline=name == "tags")
        else:
            text = "\n".join(_plain(ln) for _, b in parts for ln in b if _plain(ln))
            out[name] = _KEEP_PREFIX.sub("", text) if name == "title_zh" else text
    return out, notes


def parse_markdown(text: str, style: str | None = None, source: str = "", name: str = "") -> list[ParsedEntry]:
    """Every paper entry of one digest page. `style` forces the format; else it is detected (a digests/<style>/
    folder name passed as `style` counts as detection). Failed/repeated papers come back with `skip` set."""
    st = STYLES[detect_style(text, style or "")]
    date = page_date(text, name)
    marked = bool(_MARKER.search(text))
    chunks = _split_marked(text) if marked else _split_real(text, st.layout)
    out = []
    for n, (pid, chunk, status) in enumerate(chunks, 1):
        title, link_id = _title_and_id(chunk, st.layout)
        where = f"{source}#{n}"
        if status in ("failed", "repeat", "no_abstract") or "> summary unavailable" in chunk:
            reason = {"repeat": "already digested on an earlier day",
                      "no_abstract": "no abstract, so no summary"}.get(status, "no summary in the digest")
            out.append(ParsedEntry(pid or link_id, title, st.name, date, {}, where, skip=reason))
            continue
        fields, notes = fields_from_chunk(st, chunk, st.layout)
        out.append(ParsedEntry(pid or link_id, title, st.name, date, fields, where, notes=tuple(notes)))
    return out
