"""Rendering: golden Markdown per style from fixed fields, failures, repeats, mp4 thumbnails, the index."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from summarizer.papers import Paper
from summarizer.render import Entry, render_digest, render_index
from summarizer.styles import STYLES

GOLDEN = Path(__file__).parent / "golden"
FIELDS = json.loads((GOLDEN / "fields.json").read_text(encoding="utf-8"))
DATE = "2025-03-04"

GIZMO = Paper(
    id="2503.00001", title="Gizmo: Counting Marbles in Jars", date=DATE, upvotes=42,
    abstract="We introduce Gizmo, a benchmark of 1,200 synthetic jar images. A small CNN reaches 91.5% accuracy, 3x chance.",
    authors=("Ada Example", "Bo Sample"), thumbnail="https://cdn.example.org/thumbs/gizmo.png",
    project_page="https://gizmo.example.org",
)
CLIP = Paper(
    id="2503.00002", title="Clip_Mover: Video Thumbnails", date=DATE, upvotes=17, abstract="A video paper.",
    authors=("Cy Placeholder",), thumbnail="https://cdn.example.org/thumbs/clip.mp4",
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
    assert '<source src="https://cdn.example.org/thumbs/clip.mp4" type="video/mp4">' in clip
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
