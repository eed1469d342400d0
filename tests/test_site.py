"""The static site and the Atom feeds: every style's layout, escaping of hostile text, links that resolve, feeds
that feedparser reads without complaint, and the CLI."""

from __future__ import annotations

import html.parser
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import feedparser
import pytest
from test_digest import ABSTRACT, FIELDS
from typer.testing import CliRunner

from summarizer import sidecar, site
from summarizer.cli import app
from summarizer.papers import Paper
from summarizer.sidecar import Record
from summarizer.styles import STYLES

HOSTILE = "<script>alert(1)</script> Nice](http://evil) & \"quoted\" 'too'"
THUMB = "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers"


def paper(pid: str, title: str, upvotes: int, **kw) -> Paper:
    return Paper(id=pid, title=title, abstract=kw.pop("abstract", ABSTRACT), date="2025-10-20",
                 authors=kw.pop("authors", ("Ada Example", "Bo Sample")), upvotes=upvotes, **kw)


PAPERS = [
    paper("2510.00001", "Gizmo: Counting Marbles", 42, thumbnail=f"{THUMB}/2510.00001.png",
          github_repo="https://github.com/example/gizmo", project_page="javascript:alert(1)"),
    paper("2510.00002", HOSTILE, 17, authors=("<img src=x onerror=alert(2)>",),
          thumbnail="https://cdn-uploads.huggingface.co/production/uploads/demo.mp4"),
    paper("2510.00003", "A Paper That Failed", 9, thumbnail="https://evil.example/x.png"),
    paper("2510.00004", "No Abstract Here", 3, abstract=""),
    paper("2510.00005", "Seen Before", 1, repeat_of="2025-10-17"),
]


def records(style: str) -> dict[str, Record]:
    good = Record(fields=FIELDS[style], raw="...", problems=[])
    return {
        "2510.00001": good, "2510.00002": good,
        "2510.00003": Record(fields=None, raw="x", problems=[{"rule": "layout", "message": "no <b>bullets</b>"}]),
        "2510.00004": sidecar.no_abstract(),
    }


def doc(style: str, name: str = "2025-10-20", papers=PAPERS) -> dict:
    text = sidecar.document(name, style, "2025-10-20T10:00:00Z", {"model": {"model": "fake"}, "style": style},
                            [p.to_dict() for p in papers], records(style))
    return json.loads(text)


def every_style_docs() -> list[tuple[str, dict]]:
    out = []
    for style in STYLES:
        out += [(f"{style}/2025-10-20.json", doc(style)), (f"{style}/2025-10-21.json", doc(style, "2025-10-21")),
                (f"{style}/2025-W43.json", doc(style, "2025-W43", PAPERS[:2])),
                (f"{style}/2025-10.json", doc(style, "2025-10", PAPERS[:1]))]
    return out


@pytest.fixture(scope="module")
def built():
    files, skipped = site.build(every_style_docs())
    assert skipped == []
    return files


def texts(value) -> list[str]:
    """Every string in a fields value (a list, a dict of scores, a paragraph)."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return [str(value)]


@pytest.mark.parametrize("style", sorted(STYLES))
def test_a_digest_page_in_every_style(style, built):
    page = built[f"{style}/2025-10-20.html"]
    lang = {"en": "en", "zh": "zh-Hans", "ko": "ko"}[STYLES[style].language]
    assert f'<html lang="{lang}">' in page
    for t in texts(FIELDS[style]):  # every field of the summary, in its layout
        fragment = t.rpartition(" (")[0] if " (" in t and t.endswith(")") else t
        assert site.esc(fragment) in page, t
    assert f'<img class=thumb src="{THUMB}/2510.00001.png"' in page
    assert '<video class=thumb src="https://cdn-uploads.huggingface.co/production/uploads/demo.mp4"' in page
    assert "evil.example" not in page and "javascript:" not in page  # a thumbnail off HF, a script link: dropped
    assert 'href="https://github.com/example/gizmo"' in page
    assert "no &lt;b&gt;bullets&lt;/b&gt;" in page and "no abstract available" in page
    assert page.count("<article class=paper") == 5 and "2025-10-17" in page and 'href="2025-10-17.html"' not in page
    assert 'href="2025-10-21.html"' in page  # the later day, linked from the earlier one


@pytest.mark.parametrize("style", sorted(STYLES))
def test_hostile_text_is_text_on_the_page(style, built):
    page = built[f"{style}/2025-10-20.html"]
    assert "<script>alert" not in page and "<img src=x" not in page and 'href="http://evil' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Nice](http://evil) &amp; &quot;quoted&quot; &#x27;too&#x27;" in page
    assert page.count("<script>") == 1  # the page's own filter script


def test_the_index_lists_days_weeks_and_months_per_style(built):
    index = built["index.html"]
    for style in STYLES:
        for name in ("2025-10-20", "2025-10-21", "2025-W43", "2025-10"):
            assert f'href="{style}/{name}.html"' in index
        assert f'href="{style}/feed.xml"' in index


@pytest.mark.parametrize("style", sorted(STYLES))
def test_the_atom_feed_parses_cleanly_and_keeps_hostile_text_as_text(style, built):
    xml = built[f"{style}/feed.xml"]
    parsed = feedparser.parse(xml.encode("utf-8"))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10" and len(parsed.entries) == 4
    # newest first by the last day each covers: the month (to 10-31), the week (to 10-26), then the days
    assert [e.link for e in parsed.entries] == [  # relative to the feed, which lies beside the pages
        "2025-10.html", "2025-W43.html", "2025-10-21.html", "2025-10-20.html"]
    content = next(e for e in parsed.entries if e.link.endswith("2025-10-20.html")).content[0]
    assert content.type == "text/html" and "&lt;script&gt;alert(1)&lt;/script&gt;" in content.value
    raw = ET.fromstring(xml.encode("utf-8"))
    html_content = [c.text for c in raw.iter(f"{{{site.ATOM}}}content")]
    assert all("<script" not in c for c in html_content)  # as the reader sees the HTML: escaped, never a tag
    assert any("&lt;script&gt;alert(1)&lt;/script&gt; Nice](http://evil)" in c for c in html_content)


def test_feed_links_are_absolute_under_a_base_url():
    files, _ = site.build([("x", doc("en-bullets"))], base_url="https://example.org/papers")
    parsed = feedparser.parse(files["en-bullets/feed.xml"].encode("utf-8"))
    assert not parsed.bozo and parsed.entries[0].link == "https://example.org/papers/en-bullets/2025-10-20.html"
    assert parsed.feed.id == "https://example.org/papers/en-bullets/feed.xml"


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.urls += [v for k, v in attrs if k in ("href", "src") and v]


def broken_links(out: Path) -> list[str]:
    """Every href/src of every page: http(s) or a file of the site (fragments aside)."""
    bad = []
    for page in out.rglob("*.html"):
        parser = Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for url in parser.urls:
            if url.startswith(("https://", "http://")):
                continue
            target = (page.parent / url.split("#")[0]).resolve()
            if ":" in url.split("/")[0] or not target.is_file() or out.resolve() not in target.parents:
                bad.append(f"{page.relative_to(out)}: {url}")
    for feed in out.rglob("feed.xml"):  # a feed's relative links resolve against the feed's own address
        for link in ET.parse(feed).getroot().iter(f"{{{site.ATOM}}}link"):
            if not (feed.parent / link.get("href")).is_file():
                bad.append(f"{feed.relative_to(out)}: {link.get('href')}")
    return bad


def test_every_link_and_thumbnail_path_resolves(built, tmp_path):
    site.write(built, tmp_path / "site")
    assert broken_links(tmp_path / "site") == []
    (tmp_path / "site" / "en-bullets" / "2025-10-21.html").unlink()
    assert broken_links(tmp_path / "site")  # the check can fail


@pytest.mark.parametrize("change,message", [
    ({"date": "../../etc/passwd"}, "names no day, week or month"), ({"date": "2025-W60"}, "no day, week"), ({"style": "xx-evil"}, "unknown style"),
    ({"version": 99}, "version 99"), ({"papers": "nope"}, "no papers list")])
def test_a_sidecar_the_site_cannot_show_is_skipped_with_a_reason(change, message):
    files, skipped = site.build([("bad.json", {**doc("en-bullets"), **change}), ("good.json", doc("zh-digest"))])
    assert len(skipped) == 1 and message in skipped[0] and "bad.json" in skipped[0]
    assert set(files) == {"index.html", "zh-digest/2025-10-20.html", "zh-digest/feed.xml"}


def test_an_empty_day_has_a_page_saying_so():
    files, _ = site.build([("x", doc("ko-bullets", papers=[]))])
    assert "논문이 없습니다." in files["ko-bullets/2025-10-20.html"]
    assert not feedparser.parse(files["ko-bullets/feed.xml"].encode()).bozo


def test_cli_site_writes_the_site_from_the_sidecars(home, tmp_path):
    for style in ("en-bullets", "zh-digest"):
        path = home / "digests" / style / "2025-10-20.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc(style)), encoding="utf-8")
    (home / "digests" / "en-bullets" / "broken.json").write_text("{", encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["site", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == str(out / "index.html")
    assert "2 digest pages and 2 feeds written." in res.output
    assert (out / "zh-digest" / "2025-10-20.html").is_file() and (out / "en-bullets" / "feed.xml").is_file()
    assert CliRunner().invoke(app, ["site", "--base-url", "javascript:x"]).exit_code == 2
