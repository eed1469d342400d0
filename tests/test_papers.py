"""Pure parsers: HF daily-papers items, RSS/Atom feed entries and arXiv Atom → Paper, with exact values."""

from __future__ import annotations

import json

import pytest

from summarizer import SummarizerError
from summarizer.papers import (
    Paper,
    clean,
    collapse,
    complete_from_arxiv,
    merge,
    normalize_id,
    paper_from_hf,
    papers_from_arxiv,
    papers_from_hf,
    parse_feed,
    thumbnail_url,
    unique,
    web_url,
)

# A current-shape item, written for these tests.
FULL_ITEM = {
    "paper": {
        "id": "2510.01234",
        "title": "Tiny Lamps:\n  Lighting Small Models",
        "summary": "We study lamps.\nLamps are small\nbut bright.\n\nA second paragraph.",
        "authors": [
            {"_id": "a1", "name": "Ada One", "hidden": False},
            {"_id": "a2", "name": "Secret Two", "hidden": True},
            {"_id": "a3", "name": "Bo  Three", "hidden": False, "user": {"user": "bo"}},
        ],
        "publishedAt": "2025-10-20T10:00:00.000Z",
        "upvotes": 42,
        "ai_summary": "Lamps,\nbut small.",
        "ai_keywords": ["lamps", "small models"],
        "githubRepo": "https://github.com/example/lamps",
        "projectPage": "https://example.org/lamps",
    },
    "title": "Tiny Lamps: Lighting Small Models",
    "publishedAt": "2025-10-20T10:00:00.000Z",
    "thumbnail": "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2510.01234.png",
    "numComments": 3,
}

# A 2023-shape item: no ai_*, githubRepo, projectPage, numComments; an mp4 thumbnail; versioned id.
OLD_ITEM = {
    "paper": {"id": "2305.04321v2", "title": "Old Paper", "summary": "Short\nabstract.", "authors": [{"name": "Cy"}]},
    "thumbnail": "https://cdn-uploads.huggingface.co/production/uploads/2305.04321.mp4",
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2510.12487", "2510.12487"),
        ("2510.12487v3", "2510.12487"),
        ("arXiv:2510.12487v1", "2510.12487"),
        ("https://arxiv.org/abs/2510.12487v2", "2510.12487"),
        ("http://arxiv.org/pdf/2510.12487v2.pdf", "2510.12487"),
        ("https://hf.co/papers/2510.12487", "2510.12487"),
        ("https://huggingface.co/papers/0704.0001", "0704.0001"),
        ("https://huggingface.co/papers/2501.00012", "2501.00012"),
        ("http://arxiv.org/abs/hep-th/9901001v1", "hep-th/9901001"),
        ("math.GT/0309136", "math.GT/0309136"),
        ("https://example.org/post/12", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_id(raw, expected):
    assert normalize_id(raw) == expected


def test_collapse_joins_hard_breaks_and_keeps_paragraphs():
    assert collapse("one\ntwo  three\r\n\n\n  four\nfive ") == "one two three\n\nfour five"
    assert collapse(None) == ""


def test_paper_from_hf_keeps_every_field():
    assert paper_from_hf(FULL_ITEM, "2025-10-21") == Paper(
        id="2510.01234",
        title="Tiny Lamps: Lighting Small Models",
        abstract="We study lamps. Lamps are small but bright.\n\nA second paragraph.",
        date="2025-10-21",
        authors=("Ada One", "Bo Three"),
        upvotes=42,
        published_at="2025-10-20T10:00:00.000Z",
        thumbnail="https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2510.01234.png",
        num_comments=3,
        github_repo="https://github.com/example/lamps",
        project_page="https://example.org/lamps",
        ai_summary="Lamps, but small.",
        ai_keywords=("lamps", "small models"),
        source="hf",
    )


def test_paper_from_hf_old_item_has_defaults_not_keyerrors():
    p = paper_from_hf(OLD_ITEM, "2023-05-10")
    assert p == Paper(id="2305.04321", title="Old Paper", abstract="Short abstract.", date="2023-05-10",
                      authors=("Cy",), thumbnail="https://cdn-uploads.huggingface.co/production/uploads/2305.04321.mp4")
    assert p.is_video and p.hf_url == "https://huggingface.co/papers/2305.04321"


@pytest.mark.parametrize("item", [{}, {"paper": {}}, {"paper": {"id": None}}, {"paper": "x"}, "x", None])
def test_items_without_an_id_are_skipped(item):
    assert paper_from_hf(item, "2025-10-21") is None
    assert papers_from_hf([item, OLD_ITEM], "2025-10-21") == [paper_from_hf(OLD_ITEM, "2025-10-21")]


def test_paper_from_hf_survives_wrong_types():
    item = {"paper": {"id": "2510.01234", "upvotes": "many", "authors": None, "ai_keywords": "x"},
            "numComments": "?"}
    p = paper_from_hf(item, "2025-10-21")
    assert (p.upvotes, p.authors, p.ai_keywords, p.num_comments, p.title, p.abstract) == (0, (), (), None, "", "")


def test_papers_from_hf_rejects_non_arrays():
    with pytest.raises(SummarizerError, match="not a JSON array"):
        papers_from_hf({"error": "nope"}, "2025-10-21")


def rss(*items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Daily</title>'
        "<link>https://example.org</link><description>d</description>" + "".join(items) + "</channel></rss>"
    ).encode()


def html_item(pid: str, title: str, authors: str, upvotes: str, summary: str, pub: str, thumb: str) -> str:
    desc = (f'<p><img src="{thumb}" alt="Paper thumbnail" /></p><p><b>Authors:</b> {authors}</p>'
            f"<p><b>Upvotes:</b> {upvotes}</p><p><b>Summary:</b> {summary}</p>")
    desc = desc.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (f"<item><title>{title}</title><link>https://arxiv.org/abs/{pid}</link><description>{desc}</description>"
            f'<guid isPermaLink="false">https://arxiv.org/abs/{pid}</guid><pubDate>{pub}</pubDate></item>')


THUMBS = "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers"
HTML_FEED = rss(
    html_item("2510.00001", "Quiet   Robots", "Ana Bel, Cid Dee", "12", "Robots that\nwhisper &amp; listen.",
              "Tue, 14 Oct 2025 13:23:01 +0000", f"{THUMBS}/2510.00001.png"),
    html_item("2510.00002", "Loud Robots", "Eve Fox", "1,204", "Robots that shout.",
              "Wed, 15 Oct 2025 08:00:00 +0000", f"{THUMBS}/2510.00002.gif"),
)


def test_parse_feed_reads_the_html_description_shape():
    papers, warning = parse_feed(HTML_FEED, "2025-10-26", "feed.xml")
    assert warning is None
    assert papers == [
        Paper(id="2510.00001", title="Quiet Robots", abstract="Robots that whisper & listen.", date="2025-10-26",
              authors=("Ana Bel", "Cid Dee"), upvotes=12, published_at="2025-10-14T13:23:01Z",
              thumbnail=f"{THUMBS}/2510.00001.png", source="feed.xml"),
        Paper(id="2510.00002", title="Loud Robots", abstract="Robots that shout.", date="2025-10-26",
              authors=("Eve Fox",), upvotes=1204, published_at="2025-10-15T08:00:00Z",
              thumbnail=f"{THUMBS}/2510.00002.gif", source="feed.xml"),
    ]


def test_parse_feed_reads_plain_abstract_descriptions_linking_to_hf():
    data = rss(
        "<item><title>Plain One</title><link>https://hf.co/papers/2510.00003</link>"
        "<description>An abstract\nin plain text.</description></item>",
        "<item><title>No id here</title><link>https://example.org/blog/1</link><description>x</description></item>",
    )
    papers, warning = parse_feed(data, "2025-10-26", "https://feeds.example.org/daily")
    assert papers == [Paper(id="2510.00003", title="Plain One", abstract="An abstract in plain text.",
                            date="2025-10-26", source="https://feeds.example.org/daily")]
    assert warning == "1 feed entries without an arXiv id or duplicated were skipped"


ARXIV_ATOM = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
  <title>ArXiv Query</title>
  <entry>
    <id>http://arxiv.org/abs/2510.00004v2</id>
    <published>2025-10-02T17:59:01Z</published>
    <title>Folded
      Paper Planes</title>
    <summary>  We fold planes.
 They fly far.
</summary>
    <author><name>Gus Hale</name></author>
    <author><name>Ivy Jun</name></author>
    <link href="http://arxiv.org/abs/2510.00004v2" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/2510.00004v2" rel="related" type="application/pdf"/>
    <arxiv:primary_category term="cs.LG"/>
  </entry>
  <entry>
    <id>http://arxiv.org/api/errors#incorrect_id_format_for_bogus</id>
    <title>Error</title>
    <summary>incorrect id format for bogus</summary>
  </entry>
</feed>
"""


def test_parse_feed_reads_atom_from_the_arxiv_api():
    papers, warning = parse_feed(ARXIV_ATOM, "2025-10-26", "atom.xml")
    assert warning == "1 feed entries without an arXiv id or duplicated were skipped"  # the error entry
    assert papers == [Paper(id="2510.00004", title="Folded Paper Planes", abstract="We fold planes. They fly far.",
                            date="2025-10-26", authors=("Gus Hale", "Ivy Jun"),
                            published_at="2025-10-02T17:59:01Z", source="atom.xml")]


def test_papers_from_arxiv_and_completion():
    records = papers_from_arxiv(ARXIV_ATOM)
    assert list(records) == ["2510.00004"]
    bare = Paper(id="2510.00004", title="Kept Title", abstract="", date="2025-10-26", upvotes=5)
    assert complete_from_arxiv(bare, records["2510.00004"]) == bare.replace(
        abstract="We fold planes. They fly far.", authors=("Gus Hale", "Ivy Jun"),
        published_at="2025-10-02T17:59:01Z")


def test_broken_feed_keeps_the_items_it_could_read():
    data = HTML_FEED.replace(b"</channel></rss>", b"<item><title>cut off")
    papers, warning = parse_feed(data, "2025-10-26", "broken.xml")
    assert [p.id for p in papers] == ["2510.00001", "2510.00002"]
    assert warning.startswith("the feed broken.xml is malformed (")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<rss><channel><item><title>x</title", "could not be read as RSS/Atom"),
        (b"\x00\x01 not xml at all", "could not be read as RSS/Atom"),
        (b"<!doctype html><html><head><title>Hi</title></head><body><p>hello</p></body></html>", "RSS/Atom"),
    ],
)
def test_unreadable_feeds_are_one_line_errors(data, message):
    with pytest.raises(SummarizerError, match=message) as info:
        parse_feed(data, "2025-10-26", "bad.xml")
    assert "\n" not in str(info.value)


# ---- untrusted text and links (#9)

@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("lone \ud800surrogate", "lone surrogate"),
        ("pair \U0001f600 kept", "pair \U0001f600 kept"),
        ("nul\x00byte", "nul byte"),
        ("\x1b[31mred\x1b[0m text", "red text"),
        ("\x1b]8;;http://evil.example\x07link\x1b]8;;\x07", "link"),
        ("bell\x07 and C1\x9b end", "bell  and C1  end"),
        ("bidi \u202eevil\u202c", "bidi evil"),
        ("tabs\tand\nlines stay", "tabs\tand\nlines stay"),
        (None, ""),
        (42, ""),
    ],
)
def test_clean_removes_what_cannot_be_stored_or_printed(raw, expected):
    assert clean(raw) == expected


def test_a_lone_surrogate_in_valid_json_keeps_the_paper_and_stays_writable():
    item = json.loads('{"paper": {"id": "2510.00007", "title": "Broken \\ud800 Title", '
                      '"summary": "An abstract \\udfff with \\u0000 a NUL and \\u001b[2J a clear-screen."}}')
    p = paper_from_hf(item, "2025-10-26")
    assert (p.title, p.abstract) == ("Broken Title", "An abstract with a NUL and a clear-screen.")
    json.dumps(p.to_dict(), ensure_ascii=False).encode("utf-8")  # what the archive writes: no UnicodeEncodeError


def test_nulls_are_defaults_and_a_title_is_one_line():
    item = {"paper": {"id": "2510.00008", "title": None, "authors": None, "upvotes": None, "summary": None,
                      "githubRepo": None, "projectPage": None}, "thumbnail": None}
    assert paper_from_hf(item, "2025-10-26") == Paper(id="2510.00008", title="", abstract="", date="2025-10-26")
    item = {"paper": {"id": "2510.00009", "title": "Two\n\n# Heading", "authors": [{"name": None}, {"name": 7}, "x"]}}
    p = paper_from_hf(item, "2025-10-26")
    assert (p.title, p.authors) == ("Two # Heading", ())


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2510.00001.png", True),
        ("https://cdn-uploads.huggingface.co/production/uploads/abc/clip.mp4", True),
        ("https://hf.co/x.png", True),
        ("http://cdn-thumbnails.huggingface.co/x.png", False),  # https only
        ("https://evil.example/x.png", False),
        ("https://huggingface.co.evil.example/x.png", False),
        ("https://huggingface.co@evil.example/x.png", False),
        ("https://nothuggingface.co/x.png", False),
        ('https://cdn-thumbnails.huggingface.co/x.png" onerror="alert(1)', False),
        ("https://cdn-thumbnails.huggingface.co/x.png)[click](http://evil.example", False),
        ("javascript:alert(1)", False),
        ("x", False),
        (None, False),
    ],
)
def test_thumbnails_only_from_hf_https_hosts(url, ok):
    assert thumbnail_url(url) == (url if ok else None)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://gizmo.example.org/a_b?x=1&y=2#top", True),
        ("http://example.org", True),
        ("javascript:alert(1)", False),
        ("data:text/html,<script>", False),
        ("https://example.org/<script>", False),
        ("https://example.org/a b", False),
        ("https://example.org:99999/", False),
        ("//example.org/x", False),
    ],
)
def test_links_are_plain_http_urls(url, ok):
    assert web_url(url) == (url if ok else None)


def test_project_and_repo_links_are_checked_at_parse_time():
    item = {"paper": {"id": "2510.00010", "githubRepo": "https://gitlab.example/x", "projectPage": "javascript:x()"},
            "thumbnail": "https://evil.example/x.png"}
    p = paper_from_hf(item, "2025-10-26")
    assert (p.github_repo, p.project_page, p.thumbnail) == (None, None, None)


def test_unique_keeps_one_entry_per_id_at_its_first_place():
    a = Paper(id="2510.00001", title="A", abstract="", date="d", upvotes=3)
    b = Paper(id="2510.00002", title="B", abstract="b", date="d")
    a2 = Paper(id="2510.00001", title="A again", abstract="filled", date="d", upvotes=9)
    assert unique([a, b, a2]) == [a.replace(abstract="filled"), b]


def test_merge_keeps_what_the_newer_answer_lacks_and_lets_its_fields_win():
    old = [Paper(id=f"2510.0000{i}", title=f"Old {i}", abstract=f"Abstract {i}.", date="d", upvotes=i)
           for i in range(1, 4)]
    new = [Paper(id="2510.00003", title="New 3", abstract="", date="d", upvotes=30),
           Paper(id="2510.00009", title="New 9", abstract="Nine.", date="d")]
    merged, kept = merge(old, new)
    assert [p.id for p in merged] == ["2510.00003", "2510.00009", "2510.00001", "2510.00002"]
    assert merged[0] == old[2].replace(title="New 3", upvotes=30)  # an empty newer abstract erases nothing
    assert kept == old[:2]
    assert merge(old, []) == (old, old)
