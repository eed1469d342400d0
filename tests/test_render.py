"""Rendering: golden Markdown per style from fixed fields, failures, repeats, mp4 thumbnails, the index."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from summarizer.papers import Paper
from summarizer.render import UNTITLED, Entry, render_digest, render_index
from summarizer.styles import STYLES

GOLDEN = Path(__file__).parent / "golden"
FIELDS = json.loads((GOLDEN / "fields.json").read_text(encoding="utf-8"))
DATE = "2025-03-04"

GIZMO = Paper(
    id="2503.00001", title="Gizmo: Counting Marbles in Jars", date=DATE, upvotes=42,
    abstract="We introduce Gizmo, a benchmark of 1,200 synthetic jar images. A small CNN reaches 91.5% accuracy, 3x chance.",
    authors=("Ada Example", "Bo Sample"), thumbnail="https://cdn-uploads.huggingface.co/thumbs/gizmo.png",
    project_page="https://gizmo.example.org",
)
CLIP = Paper(
    id="2503.00002", title="Clip_Mover: Video Thumbnails", date=DATE, upvotes=17, abstract="A video paper.",
    authors=("Cy Placeholder",), thumbnail="https://cdn-uploads.huggingface.co/thumbs/clip.mp4",
)
BROKEN = Paper(id="2503.00003", title="Broken Paper", date=DATE, upvotes=9, abstract="Anything.", authors=("Di Test",))
AGAIN = Paper(id="2502.09999", title="Old News", date=DATE, upvotes=3, abstract="Seen before.", repeat_of="2025-03-01")


def entries(style: str) -> list[Entry]:
    return [
        Entry(GIZMO, FIELDS[style], None),
        Entry(CLIP, FIELDS[style], None),
        Entry(BROKEN, None, "numbers: 42 is not in the abstract\n(after 1 repair)"),
        Entry(AGAIN, None, None),
    ]


@pytest.mark.parametrize("style", sorted(STYLES))
def test_golden_markdown(style):
    page = render_digest(STYLES[style], DATE, entries(style))
    golden = GOLDEN / f"{style}.md"
    if os.environ.get("UPDATE_GOLDEN"):  # rewrite, then fail: a run that updates goldens never passes
        golden.write_text(page, encoding="utf-8")
        pytest.fail(f"{golden.name} rewritten; review the diff and run again without UPDATE_GOLDEN.")
    assert page == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_paper_in_order_with_a_stable_comment(style):
    page = render_digest(STYLES[style], DATE, entries(style))
    ids = re.findall(r"<!-- paper:(\S+)(?: status:(\w+))? -->", page)
    assert ids == [("2503.00001", ""), ("2503.00002", ""), ("2503.00003", "failed"), ("2502.09999", "repeat")]


@pytest.mark.parametrize("style", sorted(STYLES))
def test_failure_shows_facts_and_a_one_line_reason(style):
    page = render_digest(STYLES[style], DATE, entries(style))
    section = page.split("<!-- paper:2503.00003 status:failed -->")[1].split("<!-- paper:")[0]
    assert "Broken Paper" in section
    assert "summary unavailable: numbers: 42 is not in the abstract (after 1 repair)" in section
    assert "Di Test" in section or STYLES[style].layout in ("digest", "details")


@pytest.mark.parametrize("style", sorted(STYLES))
def test_repeat_is_one_line_linking_the_earlier_digest(style):
    page = render_digest(STYLES[style], DATE, entries(style))
    section = page.split("<!-- paper:2502.09999 status:repeat -->\n")[1]
    line = section.split("\n")[0]
    assert f"](../{style}/2025-03-01.md)" in line and "Old News" in line
    assert line.startswith("- ")
    rest = section[len(line):].strip()  # the repeat is the last entry: only page furniture follows
    assert rest == "" or rest.startswith(("<hr", "## License"))


@pytest.mark.parametrize("style", sorted(STYLES))
def test_mp4_thumbnail_is_a_video_and_png_an_image(style):
    page = render_digest(STYLES[style], DATE, entries(style))
    clip = page.split("<!-- paper:2503.00002 -->")[1].split("<!-- paper:")[0]
    gizmo = page.split("<!-- paper:2503.00001 -->")[1].split("<!-- paper:")[0]
    if STYLES[style].layout in ("digest", "notes", "tldr"):  # these formats carry no thumbnail
        assert "clip.mp4" not in clip and "gizmo.png" not in gizmo
        return
    assert '<source src="https://cdn-uploads.huggingface.co/thumbs/clip.mp4" type="video/mp4">' in clip
    assert "<video" in clip and "<img" not in clip and "![](" not in clip
    assert "gizmo.png" in gizmo and "<video" not in gizmo


@pytest.mark.parametrize("style", sorted(STYLES))
def test_facts_come_from_the_paper(style):
    fields = dict(FIELDS[style])
    page = render_digest(STYLES[style], DATE, [Entry(GIZMO.replace(title="Renamed Title", upvotes=7), fields, None)])
    assert "Renamed Title" in page and "Gizmo: Counting Marbles in Jars" not in page


def test_zh_digest_header_links_the_day_and_counts_papers():
    page = render_digest(STYLES["zh-digest"], DATE, entries("zh-digest"))
    assert page.startswith("# 【2025-03-04】Huggingface 每日论文速览\n")
    assert "[Huggingface Daily Papers 2025-03-04](https://huggingface.co/papers?date=2025-03-04) 共推荐 4 篇论文。" in page
    assert "- Counting (`计数`)" in page and "- 实用性：3分。适合作为计数模型的入门测试。" in page


def test_zh_notes_leaves_out_sections_that_need_the_full_paper():
    page = render_digest(STYLES["zh-notes"], DATE, entries("zh-notes"))
    assert "机构" not in page and "关键图表" not in page
    assert "- **项目页面**: https://gizmo.example.org" in page


def test_zh_details_badges_escape_dashes_and_underscores():
    page = render_digest(STYLES["zh-details"], DATE, entries("zh-details"))
    assert "![Date](https://img.shields.io/badge/Date-2025--03--04-blue)" in page
    assert "![Upvotes](https://img.shields.io/badge/upvotes-42-green)" in page


@pytest.mark.parametrize("style", ["en-bullets", "ko-bullets", "ko-translate"])
def test_wrapped_page_has_description_license_and_citation(style):
    page = render_digest(STYLES[style], DATE, entries(style))
    heads = re.findall(r"^## (.+)$", page, re.MULTILINE)
    assert heads == ["Project Description", "Daily Papers (2025-03-04)", "License", "Citation"]
    assert "year = {2025}" in page


@pytest.mark.parametrize("style", sorted(STYLES))
def test_empty_day_says_so(style):
    page = render_digest(STYLES[style], DATE, [])
    assert page.endswith("\n") and page.strip()
    assert "paper:" not in page


def test_index_lists_newest_first_then_style_name():
    rows = [
        ("2025-03-01", "zh-digest", "zh-digest/2025-03-01.md", 5),
        ("2025-03-04", "zh-digest", "zh-digest/2025-03-04.md", 4),
        ("2025-03-04", "en-bullets", "en-bullets/2025-03-04.md", 4),
        ("2025-02-28", "ko-bullets", "ko-bullets/2025-02-28.md", 0),
    ]
    assert render_index(rows) == (
        "# Digests\n\n| Date | Style | Papers |\n|---|---|---|\n"
        "| [2025-03-04](en-bullets/2025-03-04.md) | en-bullets | 4 |\n"
        "| [2025-03-04](zh-digest/2025-03-04.md) | zh-digest | 4 |\n"
        "| [2025-03-01](zh-digest/2025-03-01.md) | zh-digest | 5 |\n"
        "| [2025-02-28](ko-bullets/2025-02-28.md) | ko-bullets | 0 |\n"
    )
    assert render_index([]) == "# Digests\n\nNo digests yet.\n"


# ---- untrusted data (#9): metadata and the model's prose render as text in every style

EVIL = Paper(
    id="2503.00004", title="HTML <b>Everywhere</b> <script>alert(1)</script>", date=DATE, upvotes=3,
    abstract="Anything.", authors=("Eve](http://evil.example)", "<img src=x onerror=alert(1)>"),
    thumbnail="https://evil.example/x.png", project_page="javascript:alert(1)", github_repo="https://evil.example/r",
)
LINKS = Paper(id="2503.00005", title="Links](http://evil.example) [click", date=DATE, upvotes=2, abstract="x.",
              thumbnail='https://cdn-uploads.huggingface.co/x.png" onerror="alert(1)')
NULLS = Paper(id="2503.00006", title="", date=DATE, abstract="x.")
PROSE = "Read <script>alert(1)</script> [this](http://evil.example) ![x](http://evil.example/p.png) & *more*"


def evil_fields(style: str) -> dict:
    """The style's fixed fields with markup added to every piece of prose the model writes."""
    def add(value):
        if isinstance(value, str):
            return f"{value} {PROSE}"
        if isinstance(value, list):
            return [add(v) for v in value]
        return {k: dict(v, reason=add(v["reason"])) for k, v in value.items()}
    fields = {k: add(v) for k, v in FIELDS[style].items()}
    if "keywords" in fields:  # the English half is text, the Chinese half a code span
        fields["keywords"] = [f"<b>{k.split(' (')[0]}</b> [x](http://evil.example) (`中文`<i>)" for k in FIELDS[style]["keywords"]]
    return fields


ALLOWED_TAGS = {"details", "/details", "summary", "/summary", "div", "/div", "hr", "video", "/video", "source", "img"}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_markup_in_the_data_never_reaches_the_page(style):
    page = render_digest(STYLES[style], DATE, [Entry(EVIL, evil_fields(style), None), Entry(LINKS, None, "x <b>y</b>"),
                                                Entry(NULLS, None, None)])
    outside_code = re.sub(r"`[^`\n]*`", "", page)
    # Every HTML tag on the page is one the layout writes; every link and image goes where the layout sends it.
    tags = {t.lower() for t in re.findall(r"<(/?[a-zA-Z]+)", outside_code)}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    targets = re.findall(r"(?<!\\)\]\(([^)]*)\)", outside_code)
    assert targets and all(re.match(r"https://(arxiv\.org|huggingface\.co|img\.shields\.io)/", t) for t in targets), targets
    assert re.findall(r'src="([^"]*)"', page) == []  # no thumbnail passed: evil host, and a quote in the other
    for raw in ("evil.example/x.png", "javascript:", "onerror=alert", "evil.example/r"):
        assert raw not in page.replace("onerror=alert(1)&gt;", "")  # only as escaped text inside the author
    # ... and the data is still there, readable.
    assert "HTML &lt;b&gt;Everywhere&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Links\\](http://evil.example) \\[click" in page
    assert "Read &lt;script&gt;alert(1)&lt;/script&gt; \\[this\\](http://evil.example)" in page
    if STYLES[style].layout in ("bullets", "translate", "notes"):  # the layouts that show authors
        assert "Eve\\](http://evil.example), &lt;img src=x onerror=alert(1)&gt;" in page


@pytest.mark.parametrize("style", sorted(STYLES))
def test_a_paper_without_title_gets_a_placeholder(style):
    page = render_digest(STYLES[style], DATE, [Entry(NULLS, None, None)])
    section = page.split("<!-- paper:2503.00006 status:failed -->\n")[1]
    assert "2503.00006" in section.split("\n")[0] and "[](" not in page
    if STYLES[style].layout in ("bullets", "translate"):
        title = UNTITLED[STYLES[style].language].format(id="2503.00006")
        assert section.startswith(f"### [{title}](https://arxiv.org/abs/2503.00006)\n")
        assert "Authors: unknown · Upvotes: 0" in section


@pytest.mark.parametrize("style", sorted(STYLES))
def test_a_paper_without_abstract_shows_its_facts_and_says_so(style):
    page = render_digest(STYLES[style], DATE, [Entry(GIZMO, None, None, no_abstract=True)])
    section = page.split("<!-- paper:2503.00001 status:no_abstract -->\n")[1]
    assert "Gizmo: Counting Marbles in Jars" in section and "> no abstract available" in section
    assert "summary unavailable" not in section


def test_text_escapes_only_what_markdown_or_html_would_act_on():
    from summarizer.render import text, unescape

    assert text("Clip_Mover: R&D on <5% of x*y [1] `code` _it_ a\\b") == (
        "Clip_Mover: R&amp;D on &lt;5% of x\\*y \\[1\\] \\`code\\` \\_it\\_ a\\\\b")
    assert text("old \x1b[31marchive\x00 \ud800") == "old archive  "  # control characters never reach a page
    for s in ("Clip_Mover: R&D on <5% of x*y [1] `code` _it_ a\\b", "&lt; stays &lt;", "\\[x\\]", "plain 中文"):
        assert unescape(text(s)) == s
