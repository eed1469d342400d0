"""Markdown rendering: one page per (style, date) in the shape of the user's digests, and the digests index.

Facts (titles, authors, links, dates, upvotes, thumbnails) come from the Paper; only prose comes from fields.
Every paper is preceded by `<!-- paper:<id> -->` (plus ` status:failed` / ` status:repeat`) for parse-back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from summarizer.papers import Paper
from summarizer.styles import SCORE_LABELS, Style
from summarizer.text import one_line


@dataclass(frozen=True)
class Entry:
    paper: Paper
    fields: dict | None  # parsed, validated prose fields; None when the paper failed or is a repeat
    failure: str | None = None  # why there is no summary (shown as "summary unavailable: <reason>")


REPEAT = {  # language -> one-line text for a paper already digested on an earlier day
    "en": "Already in the digest of [{date}]({link}).",
    "ko": "[{date}]({link}) 다이제스트에 이미 수록된 논문입니다.",
    "zh": "已收录于 [{date}]({link})。",
}
EMPTY = {"en": "No papers for this day.", "ko": "이 날짜의 논문이 없습니다.", "zh": "当天没有论文。"}
FAILURE_MAX = 200  # characters of a failure reason shown on the page (the sidecar keeps all of it)
HR = '<hr style="border:0.5px solid #CCCCCC; margin-top: 20px; margin-bottom: 20px;"/>'


def _comment(entry: Entry) -> str:
    if entry.paper.repeat_of:
        return f"<!-- paper:{entry.paper.id} status:repeat -->"
    if entry.fields is None:
        return f"<!-- paper:{entry.paper.id} status:failed -->"
    return f"<!-- paper:{entry.paper.id} -->"


def _unavailable(entry: Entry) -> str:
    return f"> summary unavailable: {one_line(entry.failure or 'no summary was produced', FAILURE_MAX)}"


def _repeat_line(style: Style, paper: Paper, title: str) -> str:
    link = f"../{style.name}/{paper.repeat_of}.md"
    return f"- {title} — " + REPEAT[style.language].format(date=paper.repeat_of, link=link)


def _badge(text: str) -> str:
    """shields.io escaping: '-' -> '--', '_' -> '__', ' ' -> '_'."""
    return str(text).replace("-", "--").replace("_", "__").replace(" ", "_")


def _media(paper: Paper, width: int | None = None) -> str:
    """The thumbnail: an image, or a <video> for mp4/webm/mov thumbnails; "" when there is none."""
    if not paper.thumbnail:
        return ""
    if paper.is_video:
        return (f'<video width="{width or 320}" controls>\n  <source src="{paper.thumbnail}" type="video/mp4">\n'
                "</video>")
    if width:
        return f'<img src="{paper.thumbnail}" title="Title" width="{width}" />'
    return f"![]({paper.thumbnail})"


def _bullets(items: list, indent: str = "") -> str:
    return "\n".join(f"{indent}- {i}" for i in items)


def _split_keyword(k: str) -> tuple[str, str]:
    head, _, tail = str(k).rpartition(" (")
    return (head, tail.rstrip(")")) if head else (str(k), "")


# ---- zh-digest (samples 000/001)

def _digest_paper(style: Style, e: Entry) -> str:
    p = e.paper
    if p.repeat_of:
        return _repeat_line(style, p, f"[{p.title}]({p.hf_url})")
    parts = [f"## {p.title}"]
    if e.fields is None:
        parts.append(_unavailable(e))
    else:
        f = e.fields
        keywords = [f"- {en} (`{zh}`)" if zh else f"- {en}" for en, zh in map(_split_keyword, f["keywords"])]
        scores = [f"- {label}：{f['scores'][key]['score']}分。{f['scores'][key]['reason']}"
                  for key, label in SCORE_LABELS.items() if key in f["scores"]]
        parts += [
            "**1. 本文的主要工作**", f["work"],
            "**2. 本文工作的主要亮点**", _bullets(f["highlights"]),
            "**3. 核心关键词**", "\n".join(keywords),
            "**4. 从实用性、创新性和推荐度进行打分**", "\n".join(scores),
        ]
    parts.append(f"[到 Huggingface 论文主页查看详情]({p.hf_url})")
    return "\n\n".join(parts)


def _digest_page(style: Style, date: str, entries: list[Entry]) -> str:
    head = (
        f"# 【{date}】Huggingface 每日论文速览\n\n"
        f"- [Huggingface Daily Papers {date}](https://huggingface.co/papers?date={date}) "
        f"共推荐 {len(entries)} 篇论文。\n\n"
        f"> 💡说明：\n>\n> - {style.description}\n>\n"
        "> - 论文的速览内容基于论文的摘要，使用本地部署的开源模型生成，然后由程序整合为 Markdown 文本。"
    )
    return "\n\n".join([head, *(f"{_comment(e)}\n{_digest_paper(style, e)}" for e in entries)])


# ---- zh-details (sample 003)

def _details_paper(style: Style, e: Entry, date: str) -> str:
    p = e.paper
    if p.repeat_of:
        return _repeat_line(style, p, f"[{p.title}]({p.hf_url})") + f"\n\n{HR}"
    badges = (f"![Date](https://img.shields.io/badge/Date-{_badge(date)}-blue) "
              f"![Upvotes](https://img.shields.io/badge/upvotes-{p.upvotes}-green)")
    body = ['<summary style="font-weight: bold; cursor: pointer;">展开论文总结</summary>']
    if p.thumbnail:
        body.append(f'<div align="center">\n{_media(p, 660)}\n</div>')
    if e.fields is None:
        body.append(_unavailable(e))
    else:
        f = e.fields
        challenges = []
        for n, item in enumerate(f["challenges"], 1):
            name, sep, how = str(item).replace("：", ":").partition(":")
            challenges.append(f"    - **挑战{n}：{name.strip()}**" + (f"\n        {how.strip()}" if sep else ""))
        body += [
            f"#### 背景\n- **背景**\n    {f['background']}\n\n- **已有的工作**\n    {f['prior_work']}",
            f"#### 核心贡献\n- **{f['contribution']}**\n" + "\n\n".join(challenges),
            f"#### 实现与部署\n{f['implementation']}",
            f"#### 总结\n{f['summary']}",
        ]
    return f"#### {p.title}\n{badges}\n\n<details>\n" + "\n\n".join(body) + f"\n</details>\n\n{HR}"


def _details_page(style: Style, date: str, entries: list[Entry]) -> str:
    return "\n\n".join(f"{_comment(e)}\n{_details_paper(style, e, date)}" for e in entries)


# ---- zh-notes (sample 002); institutions and key figures need the full paper, so they are left out

def _notes_paper(style: Style, e: Entry) -> str:
    p = e.paper
    if p.repeat_of:
        return _repeat_line(style, p, f"[{p.title}]({p.pdf_url})")
    parts = [f"# {p.title}\n[arxiv_pdf_url]({p.pdf_url})"]
    authors = [f"- **作者**: {', '.join(p.authors)}"] if p.authors else []
    authors += [f"- **项目页面**: {p.project_page}"] if p.project_page else []
    authors += [f"- **代码**: {p.github_repo}"] if p.github_repo else []
    if e.fields is None:
        parts += ["### **作者信息**\n" + "\n".join(authors)] if authors else []
        parts.append(_unavailable(e))
        return "\n\n".join(parts)
    f = e.fields
    parts.append(f"### **论文标题**\n- {f['title_zh']}")
    parts += ["### **作者信息**\n" + "\n".join(authors)] if authors else []
    parts += [
        f"### **论文标签**\n{_bullets(f['tags'])}",
        f"### **研究核心目标与问题**\n- {f['goal']}",
        f"### **采用方法与技术**\n{_bullets(f['method'])}",
        f"### **实验设计与主要发现**\n{_bullets(f['findings'])}",
        f"### **结论及对未来研究的意义**\n- {f['conclusion']}",
    ]
    return "\n\n".join(parts)


def _notes_page(style: Style, date: str, entries: list[Entry]) -> str:
    return "\n\n".join(f"{_comment(e)}\n{_notes_paper(style, e)}" for e in entries)


# ---- zh-tldr: the five sections of the daily-arXiv-ai-enhanced summaries, one heading each

TLDR_HEADINGS = {"tldr": "TLDR", "motivation": "动机", "method": "方法", "result": "结果", "conclusion": "结论"}


def _tldr_paper(style: Style, e: Entry) -> str:
    p = e.paper
    link = f"[{p.title}]({p.abs_url})"
    if p.repeat_of:
        return _repeat_line(style, p, link)
    facts = [f"**作者**: {', '.join(p.authors)}"] if p.authors else []
    facts += [f"**点赞**: {p.upvotes}"] if p.upvotes else []  # 0 = the source has no upvotes (imported rows)
    parts = [f"## {link}", *([" · ".join(facts)] if facts else [])]
    if e.fields is None:
        parts.append(_unavailable(e))
    else:
        parts += [f"#### {heading}\n{e.fields[name]}" for name, heading in TLDR_HEADINGS.items()]
    return "\n\n".join(parts)


def _tldr_page(style: Style, date: str, entries: list[Entry]) -> str:
    head = (f"# 【{date}】Huggingface 每日论文 TLDR\n\n"
            f"- [Huggingface Daily Papers {date}](https://huggingface.co/papers?date={date}) 共 {len(entries)} 篇论文。"
            f"\n\n> {style.description}")
    return "\n\n".join([head, *(f"{_comment(e)}\n{_tldr_paper(style, e)}" for e in entries)])


# ---- ko-bullets / en-bullets (sample 004) and the translate styles: the wrapped page

def _facts(p: Paper) -> str:
    media = _media(p)
    head = f"### [{p.title}]({p.abs_url})"
    if p.is_video:
        head += f"\n\n{media}\n"
    elif media:
        head += f"\n{media}"
    authors = ", ".join(p.authors) or "unknown"
    return f"{head}\nAuthors: {authors} · Upvotes: {p.upvotes}"


def _wrapped_paper(style: Style, e: Entry) -> str:
    p = e.paper
    if p.repeat_of:
        return _repeat_line(style, p, f"[{p.title}]({p.abs_url})")
    if e.fields is None:
        return f"{_facts(p)}\n\n{_unavailable(e)}"
    if style.layout == "translate":
        return f"{_facts(p)}\n\n{e.fields['translation'].strip()}"
    return f"{_facts(p)}\n\n{_bullets(e.fields['bullets'])}"


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

