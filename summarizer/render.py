"""Markdown rendering: one page per (style, date) in the shape of the user's digests, and the digests index.

Facts (titles, authors, links, dates, upvotes, thumbnails) come from the Paper; only prose comes from fields. Both
are data: escaped as text (`text`), links built from the arXiv id, thumbnails and project links only when they pass
papers.thumbnail_url / web_url. Every paper is preceded by `<!-- paper:<id> -->` (plus ` status:failed`,
` status:no_abstract` or ` status:repeat`) for parse-back.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

from summarizer.papers import Paper, clean, github_url, thumbnail_url, web_url
from summarizer.styles import SCORE_LABELS, Style
from summarizer.text import one_line


@dataclass(frozen=True)
class Entry:
    paper: Paper
    fields: dict | None  # parsed, validated prose fields; None when the paper failed or is a repeat
    failure: str | None = None  # why there is no summary (shown as "summary unavailable: <reason>")
    no_abstract: bool = False  # the paper has no abstract, so nothing was generated (shown as NO_ABSTRACT)


REPEAT = {  # language -> one-line text for a paper already digested on an earlier day
    "en": "Already in the digest of [{date}]({link}).",
    "ko": "[{date}]({link}) 다이제스트에 이미 수록된 논문입니다.",
    "zh": "已收录于 [{date}]({link})。",
}
EMPTY = {"en": "No papers for this day.", "ko": "이 날짜의 논문이 없습니다.", "zh": "当天没有论文。"}
UNTITLED = {"en": "Untitled paper {id}", "ko": "제목 없는 논문 {id}", "zh": "无标题论文 {id}"}  # the source gave none
NO_ABSTRACT = "no abstract available"  # said in English on every page, like "summary unavailable"
HR = '<hr style="border:0.5px solid #CCCCCC; margin-top: 20px; margin-bottom: 20px;"/>'


# ---- data as text: what could open HTML, an entity, a link, an image, emphasis or code is escaped, nothing more,
# so that the page stays readable. A "_" inside a word (Clip_Mover) opens nothing and stays as it is.
_ESCAPED = re.compile(r"[\\`*\[\]&<>]|(?<![^\W_])_|_(?![^\W_])")
_HTML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def text(value) -> str:
    """Data (a title, an author, the model's prose) as Markdown that renders as exactly that text: `& < >` become
    entities, and backslash, backtick, `*`, `[`, `]` and a `_` at a word's edge are backslash-escaped."""
    # clean() again: an archive written before text was cleaned at parse time may still hold control characters.
    return _ESCAPED.sub(lambda m: _HTML_ESCAPES.get(m.group(0)) or "\\" + m.group(0), clean(str(value)))


def unescape(value: str) -> str:
    """The inverse of `text` (readback turns a rendered page back into the data)."""
    return html.unescape(re.sub(r"\\([\\`*\[\]_])", r"\1", value))


def _code(value) -> str:
    """Data inside a code span, where nothing is interpreted and nothing can be escaped: only backticks go."""
    return str(value).replace("`", "")


def _one_line(value, limit: int = 200) -> str:
    """Data folded to one escaped line, cut at `limit` characters (a failure reason: the sidecar keeps all of it)."""
    return text(one_line(value, limit))


def _title(style: Style, paper: Paper) -> str:
    return _one_line(paper.title, 1000) or UNTITLED[style.language].format(id=paper.id)


def _authors(paper: Paper) -> str:
    return ", ".join(_one_line(a, 1000) for a in paper.authors)


def _comment(entry: Entry) -> str:
    if entry.paper.repeat_of:
        return f"<!-- paper:{entry.paper.id} status:repeat -->"
    if entry.no_abstract:
        return f"<!-- paper:{entry.paper.id} status:no_abstract -->"
    if entry.fields is None:
        return f"<!-- paper:{entry.paper.id} status:failed -->"
    return f"<!-- paper:{entry.paper.id} -->"


def _unavailable(entry: Entry) -> str:
    if entry.no_abstract:
        return f"> {NO_ABSTRACT}"
    return f"> summary unavailable: {_one_line(entry.failure or 'no summary was produced')}"


def _repeat_line(style: Style, paper: Paper, link: str) -> str:
    earlier = f"../{style.name}/{paper.repeat_of}.md"
    return f"- [{_title(style, paper)}]({link}) — " + REPEAT[style.language].format(date=paper.repeat_of, link=earlier)


def list_url(date: str) -> str:
    """The HF page of a day's list, or of a week's (2025-W43) or month's (2025-10) top papers."""
    if "-W" in date:
        return f"https://huggingface.co/papers/week/{date}"
    if len(date) == 7:
        return f"https://huggingface.co/papers/month/{date}"
    return f"https://huggingface.co/papers?date={date}"


def _badge(text: str) -> str:
    """shields.io escaping: '-' -> '--', '_' -> '__', ' ' -> '_'."""
    return str(text).replace("-", "--").replace("_", "__").replace(" ", "_")


def _media(paper: Paper, width: int | None = None) -> str:
    """The thumbnail: an image, or a <video> for mp4/webm/mov thumbnails; "" when there is none or it is not on a
    host the HF feed uses (checked again here: an archive may predate the check at parse time)."""
    url = thumbnail_url(paper.thumbnail)
    if not url:
        return ""
    if paper.is_video:
        return f'<video width="{width or 320}" controls>\n  <source src="{url}" type="video/mp4">\n</video>'
    if width:
        return f'<img src="{url}" title="Title" width="{width}" />'
    return f"![]({url})"


def _bullets(items: list, indent: str = "") -> str:
    return "\n".join(f"{indent}- {text(i)}" for i in items)


def _split_keyword(k: str) -> tuple[str, str]:
    head, _, tail = str(k).rpartition(" (")
    return (head, tail.rstrip(")")) if head else (str(k), "")


# ---- zh-digest (samples 000/001)

def _digest_paper(style: Style, e: Entry) -> str:
    p = e.paper
    if p.repeat_of:
        return _repeat_line(style, p, p.hf_url)
    parts = [f"## {_title(style, p)}"]
    if e.fields is None:
        parts.append(_unavailable(e))
    else:
        f = e.fields
        keywords = [f"- {text(en)} (`{_code(zh)}`)" if zh else f"- {text(en)}"
                    for en, zh in map(_split_keyword, f["keywords"])]
        scores = [f"- {label}：{text(f['scores'][key]['score'])}分。{text(f['scores'][key]['reason'])}"
                  for key, label in SCORE_LABELS.items() if key in f["scores"]]
        parts += [
            "**1. 本文的主要工作**", text(f["work"]),
            "**2. 本文工作的主要亮点**", _bullets(f["highlights"]),
            "**3. 核心关键词**", "\n".join(keywords),
            "**4. 从实用性、创新性和推荐度进行打分**", "\n".join(scores),
        ]
    parts.append(f"[到 Huggingface 论文主页查看详情]({p.hf_url})")
    return "\n\n".join(parts)


def _digest_page(style: Style, date: str, entries: list[Entry]) -> str:
    head = (
        f"# 【{date}】Huggingface 每日论文速览\n\n"
        f"- [Huggingface Daily Papers {date}]({list_url(date)}) "
        f"共推荐 {len(entries)} 篇论文。\n\n"
        f"> 💡说明：\n>\n> - {style.description}\n>\n"
        "> - 论文的速览内容基于论文的摘要，使用本地部署的开源模型生成，然后由程序整合为 Markdown 文本。"
    )
    return "\n\n".join([head, *(f"{_comment(e)}\n{_digest_paper(style, e)}" for e in entries)])


# ---- zh-details (sample 003)

def _details_paper(style: Style, e: Entry, date: str) -> str:
    p = e.paper
    if p.repeat_of:
        return _repeat_line(style, p, p.hf_url) + f"\n\n{HR}"
    badges = (f"![Date](https://img.shields.io/badge/Date-{_badge(date)}-blue) "
              f"![Upvotes](https://img.shields.io/badge/upvotes-{int(p.upvotes or 0)}-green)")
    body = ['<summary style="font-weight: bold; cursor: pointer;">展开论文总结</summary>']
    if media := _media(p, 660):
        body.append(f'<div align="center">\n{media}\n</div>')
    if e.fields is None:
        body.append(_unavailable(e))
    else:
        f = e.fields
        challenges = []
        for n, item in enumerate(f["challenges"], 1):
            name, sep, how = str(item).replace("：", ":").partition(":")
            challenges.append(f"    - **挑战{n}：{text(name.strip())}**" + (f"\n        {text(how.strip())}" if sep else ""))
        body += [
            f"#### 背景\n- **背景**\n    {text(f['background'])}\n\n- **已有的工作**\n    {text(f['prior_work'])}",
            f"#### 核心贡献\n- **{text(f['contribution'])}**\n" + "\n\n".join(challenges),
            f"#### 实现与部署\n{text(f['implementation'])}",
            f"#### 总结\n{text(f['summary'])}",
        ]
    return f"#### {_title(style, p)}\n{badges}\n\n<details>\n" + "\n\n".join(body) + f"\n</details>\n\n{HR}"


def _details_page(style: Style, date: str, entries: list[Entry]) -> str:
    return "\n\n".join(f"{_comment(e)}\n{_details_paper(style, e, date)}" for e in entries)


# ---- zh-notes (sample 002); institutions and key figures need the full paper, so they are left out

def _notes_paper(style: Style, e: Entry) -> str:
    p = e.paper
    if p.repeat_of:
        return _repeat_line(style, p, p.pdf_url)
    parts = [f"# {_title(style, p)}\n[arxiv_pdf_url]({p.pdf_url})"]
    authors = [f"- **作者**: {_authors(p)}"] if p.authors else []
    # Validated URLs hold no character Markdown or HTML would act on (see papers.web_url).
    authors += [f"- **项目页面**: {url}"] if (url := web_url(p.project_page)) else []
    authors += [f"- **代码**: {url}"] if (url := github_url(p.github_repo)) else []
    if e.fields is None:
        parts += ["### **作者信息**\n" + "\n".join(authors)] if authors else []
        parts.append(_unavailable(e))
        return "\n\n".join(parts)
    f = e.fields
    parts.append(f"### **论文标题**\n- {text(f['title_zh'])}")
    parts += ["### **作者信息**\n" + "\n".join(authors)] if authors else []
    parts += [
        f"### **论文标签**\n{_bullets(f['tags'])}",
        f"### **研究核心目标与问题**\n- {text(f['goal'])}",
        f"### **采用方法与技术**\n{_bullets(f['method'])}",
        f"### **实验设计与主要发现**\n{_bullets(f['findings'])}",
        f"### **结论及对未来研究的意义**\n- {text(f['conclusion'])}",
    ]
    return "\n\n".join(parts)


def _notes_page(style: Style, date: str, entries: list[Entry]) -> str:
    return "\n\n".join(f"{_comment(e)}\n{_notes_paper(style, e)}" for e in entries)


# ---- zh-tldr: the five sections of the daily-arXiv-ai-enhanced summaries, one heading each

TLDR_HEADINGS = {"tldr": "TLDR", "motivation": "动机", "method": "方法", "result": "结果", "conclusion": "结论"}


def _tldr_paper(style: Style, e: Entry) -> str:
    p = e.paper
    if p.repeat_of:
        return _repeat_line(style, p, p.abs_url)
    facts = [f"**作者**: {_authors(p)}"] if p.authors else []
    facts += [f"**点赞**: {p.upvotes}"] if p.upvotes else []  # 0 = the source has no upvotes (imported rows)
    parts = [f"## [{_title(style, p)}]({p.abs_url})", *([" · ".join(facts)] if facts else [])]
    if e.fields is None:
        parts.append(_unavailable(e))
    else:
        parts += [f"#### {heading}\n{text(e.fields[name])}" for name, heading in TLDR_HEADINGS.items()]
    return "\n\n".join(parts)


def _tldr_page(style: Style, date: str, entries: list[Entry]) -> str:
    head = (f"# 【{date}】Huggingface 每日论文 TLDR\n\n"
            f"- [Huggingface Daily Papers {date}]({list_url(date)}) 共 {len(entries)} 篇论文。"
            f"\n\n> {style.description}")
    return "\n\n".join([head, *(f"{_comment(e)}\n{_tldr_paper(style, e)}" for e in entries)])


# ---- ko-bullets / en-bullets (sample 004) and the translate styles: the wrapped page

def _facts(style: Style, p: Paper) -> str:
    media = _media(p)
    head = f"### [{_title(style, p)}]({p.abs_url})"
    if media and p.is_video:
        head += f"\n\n{media}\n"
    elif media:
        head += f"\n{media}"
    return f"{head}\nAuthors: {_authors(p) or 'unknown'} · Upvotes: {int(p.upvotes or 0)}"


def _wrapped_paper(style: Style, e: Entry) -> str:
    p = e.paper
    if p.repeat_of:
        return _repeat_line(style, p, p.abs_url)
    if e.fields is None:
        return f"{_facts(style, p)}\n\n{_unavailable(e)}"
    if style.layout == "translate":
        return f"{_facts(style, p)}\n\n{text(e.fields['translation'].strip())}"
    return f"{_facts(style, p)}\n\n{_bullets(e.fields['bullets'])}"


def _wrapped_page(style: Style, date: str, entries: list[Entry]) -> str:
    citation = style.citation.replace("{year}", date[:4])
    parts = [
        "# Daily Papers", f"## Project Description\n\n{style.description}", f"## Daily Papers ({date})",
        *(f"{_comment(e)}\n{_wrapped_paper(style, e)}" for e in entries),
    ]
    if style.license:
        parts.append(f"## License\n\n{style.license}")
    if citation:
        parts.append(f"## Citation\n\n```bibtex\n{citation}\n```")
    return "\n\n".join(parts)


PAGES: dict[str, Callable[[Style, str, list[Entry]], str]] = {
    "digest": _digest_page,
    "details": _details_page,
    "notes": _notes_page,
    "tldr": _tldr_page,
    "bullets": _wrapped_page,
    "translate": _wrapped_page,
}


def render_digest(style: Style, date, entries: list[Entry]) -> str:
    """The day's page for a style; entries are rendered in the order given (the pipeline sorts by upvotes)."""
    date = str(date)
    page = PAGES[style.layout](style, date, list(entries))
    if not entries:
        page = f"{page}\n\n{EMPTY[style.language]}" if page else EMPTY[style.language]
    return page.rstrip() + "\n"


def render_index(digests: list[tuple]) -> str:
    """The digests/README.md index: (date, style, relpath, count) rows, newest first, then by style name."""
    rows = sorted(sorted(digests, key=lambda d: str(d[1])), key=lambda d: str(d[0]), reverse=True)
    lines = ["# Digests", "", "| Date | Style | Papers |", "|---|---|---|"]
    lines += [f"| [{date}]({relpath}) | {style} | {count} |" for date, style, relpath, count in rows]
    if not rows:
        lines = ["# Digests", "", "No digests yet."]
    return "\n".join(lines) + "\n"

