"""The static site and Atom feeds of the digests: sidecar documents in, {relative path: text} out. Pure.

Every page is self-contained (inline CSS and script, no CDN, no build step) so the site works from file:// as well
as from any web server. Every text that came from the network or a model is escaped with html.escape; links are
built from the arXiv id or pass papers.web_url/github_url, thumbnails pass papers.thumbnail_url (the checks
render.py makes for the Markdown pages). The I/O edge (reading sidecars, writing files) is `load` and `write`.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from summarizer import SummarizerError, archive, sidecar
from summarizer.digest import entry
from summarizer.papers import Paper, github_url, thumbnail_url, web_url
from summarizer.render import NO_ABSTRACT, TLDR_HEADINGS, Entry, list_url
from summarizer.styles import SCORE_LABELS, STYLES, Style
from summarizer.text import one_line

log = logging.getLogger(__name__)

KINDS = {  # digest kind -> the shape of its name
    "day": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "week": re.compile(r"^\d{4}-W\d{2}$"),
    "month": re.compile(r"^\d{4}-\d{2}$"),
}
LANG = {"en": "en", "zh": "zh-Hans", "ko": "ko"}  # style language -> the pages' lang attribute
UI = {  # the pages' own words, per style language
    "en": {"search": "Search titles, abstracts and summaries", "author": "Author", "min": "Min. upvotes",
           "shown": "papers shown", "authors": "Authors", "upvotes": "Upvotes", "all": "All digests",
           "day": "Days", "week": "Weeks", "month": "Months", "feed": "Atom feed", "papers": "papers",
           "unavailable": "summary unavailable", "repeat": "Already in the digest of", "empty": "No papers.",
           "prev": "Earlier", "next": "Later", "list": "Hugging Face list"},
    "zh": {"search": "搜索标题、摘要与速览", "author": "作者", "min": "最低点赞数", "shown": "篇论文", "authors": "作者",
           "upvotes": "点赞", "all": "全部速览", "day": "每日", "week": "每周", "month": "每月", "feed": "Atom 订阅",
           "papers": "篇", "unavailable": "速览暂缺", "repeat": "已收录于", "empty": "当天没有论文。", "prev": "更早",
           "next": "更新", "list": "Hugging Face 列表"},
    "ko": {"search": "제목·초록·요약 검색", "author": "저자", "min": "최소 추천 수", "shown": "편 표시", "authors": "저자",
           "upvotes": "추천", "all": "전체 다이제스트", "day": "일간", "week": "주간", "month": "월간",
           "feed": "Atom 피드", "papers": "편", "unavailable": "요약 없음", "repeat": "이미 수록된 다이제스트:",
           "empty": "논문이 없습니다.", "prev": "이전", "next": "다음", "list": "Hugging Face 목록"},
}
LABELS = {  # (layout, field) -> its heading on the page, as render.py writes it in the Markdown digest
    ("digest", "work"): "本文的主要工作", ("digest", "highlights"): "本文工作的主要亮点",
    ("digest", "keywords"): "核心关键词", ("digest", "scores"): "从实用性、创新性和推荐度进行打分",
    ("details", "background"): "背景", ("details", "prior_work"): "已有的工作", ("details", "contribution"): "核心贡献",
    ("details", "challenges"): "挑战", ("details", "implementation"): "实现与部署", ("details", "summary"): "总结",
    ("notes", "title_zh"): "论文标题", ("notes", "tags"): "论文标签", ("notes", "goal"): "研究核心目标与问题",
    ("notes", "method"): "采用方法与技术", ("notes", "findings"): "实验设计与主要发现",
    ("notes", "conclusion"): "结论及对未来研究的意义",
    **{("tldr", name): heading for name, heading in TLDR_HEADINGS.items()},
}


@dataclass(frozen=True)
class Digest:
    """One sidecar, read: the page it becomes and the entries on it."""

    style: Style
    name: str  # YYYY-MM-DD, YYYY-Www or YYYY-MM
    kind: str  # "day" | "week" | "month"
    written_at: str  # when the sidecar was written (ISO, UTC): the feed entry's update time
    entries: tuple[Entry, ...]  # in the digest's order (most upvoted first)
    provenance: dict  # the sidecar's provenance (model, prompt version)

    @property
    def path(self) -> str:
        return f"{self.style.name}/{self.name}.html"

    @property
    def ends(self) -> tuple[str, int]:
        """Sort key: the last day the digest covers, then day < week < month (a week's digest follows its days)."""
        if self.kind == "week":
            year, week = self.name.split("-W")
            last = dt.date.fromisocalendar(int(year), int(week), 7)
        elif self.kind == "month":
            year, month = map(int, self.name.split("-"))
            last = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
        else:
            last = dt.date.fromisoformat(self.name)
        return last.isoformat(), list(KINDS).index(self.kind)


def esc(value) -> str:
    """Data as HTML text or attribute value: & < > " ' escaped."""
    return html.escape(str(value if value is not None else ""), quote=True)


def read(doc: dict, where: str = "") -> Digest:
    """A parsed sidecar document → Digest; a one-line error for one that is not a digest this site can show."""
    style, name = doc.get("style"), doc.get("date")
    if style not in STYLES:
        raise SummarizerError(f"The sidecar {where} has the unknown style {style!r}.")
    kind = next((k for k, shape in KINDS.items() if isinstance(name, str) and shape.match(name)), None)
    if kind is None or not _real(kind, name):
        raise SummarizerError(f"The sidecar {where} names no day, week or month ({name!r}).")
    if not isinstance(doc.get("papers"), list):
        raise SummarizerError(f"The sidecar {where} has no papers list.")
    records = sidecar.records(doc, where)
    papers = [Paper.from_dict(d) for d in doc["papers"] if isinstance(d, dict) and isinstance(d.get("id"), str)]
    return Digest(STYLES[style], name, kind, str(doc.get("written_at") or ""),
                  tuple(entry(p, records.get(p.id)) for p in papers), doc.get("provenance") or {})


def _real(kind: str, name: str) -> bool:
    try:
        if kind == "day":
            dt.date.fromisoformat(name)
        elif kind == "week":
            dt.date.fromisocalendar(int(name[:4]), int(name[6:]), 1)
        else:
            dt.date(int(name[:4]), int(name[5:]), 1)
    except ValueError:
        return False
    return True


# ---- a paper's summary in its style's layout

def _field(st: Style, f, value) -> str:
    if f.kind == "list":
        return "<ul>" + "".join(f"<li>{esc(v)}</li>" for v in value or ()) + "</ul>"
    if f.kind == "keywords":
        items = []
        for k in value or ():
            head, _, tail = str(k).rpartition(" (")
            items.append(f"<li>{esc(head)} <code>{esc(tail.rstrip(')'))}</code></li>" if head else f"<li>{esc(k)}</li>")
        return "<ul class=keywords>" + "".join(items) + "</ul>"
    if f.kind == "scores":
        return "<ul>" + "".join(
            f"<li><b>{label}</b>：{esc(value[key].get('score'))}分。{esc(value[key].get('reason'))}</li>"
            for key, label in SCORE_LABELS.items() if isinstance(value, dict) and isinstance(value.get(key), dict)
        ) + "</ul>"
    return "".join(f"<p>{esc(par)}</p>" for par in str(value or "").split("\n\n") if par.strip())


def summary_html(st: Style, e: Entry, ui: dict) -> str:
    """The summary block: the fields under their headings, or the one line saying why there is none."""
    if e.no_abstract:
        return f'<p class=unavailable>{esc(NO_ABSTRACT)}</p>'
    if e.fields is None:
        reason = one_line(e.failure or "no summary was produced", 200)
        return f'<p class=unavailable>{ui["unavailable"]}: {esc(reason)}</p>'
    parts = []
    for f in st.fields:
        label = LABELS.get((st.layout, f.name))
        parts.append((f"<h4>{label}</h4>" if label else "") + _field(st, f, e.fields.get(f.name)))
    return '<div class=summary>' + "".join(parts) + "</div>"


def _media(p: Paper) -> str:
    url = thumbnail_url(p.thumbnail)
    if not url:
        return ""
    if p.is_video:
        return f'<video class=thumb src="{esc(url)}" controls muted preload=metadata></video>'
    return f'<img class=thumb src="{esc(url)}" alt="" loading=lazy>'


def _links(p: Paper) -> str:
    links = [("arXiv", p.abs_url), ("PDF", p.pdf_url), ("HF", p.hf_url)]
    links += [("Project", url)] if (url := web_url(p.project_page)) else []
    links += [("GitHub", url)] if (url := github_url(p.github_repo)) else []
    return " · ".join(f'<a href="{esc(url)}" rel="noopener noreferrer">{name}</a>' for name, url in links)


def paper_html(d: Digest, e: Entry, pages: set[str]) -> str:
    st, p, ui = d.style, e.paper, UI[d.style.language]
    title = esc(p.title or f"{p.id}")
    authors = ", ".join(p.authors)
    search = " ".join([p.title, p.abstract, authors, json.dumps(e.fields or {}, ensure_ascii=False)]).lower()
    head = (f'<article class=paper data-authors="{esc(authors.lower())}" data-upvotes="{int(p.upvotes or 0)}" '
            f'data-text="{esc(search)}" id="p-{esc(p.id)}">')
    if p.repeat_of:
        earlier = f"{st.name}/{p.repeat_of}.html"
        where = f'<a href="{esc(p.repeat_of)}.html">{esc(p.repeat_of)}</a>' if earlier in pages else esc(p.repeat_of)
        return (f'{head}<div class=media></div><div class=body><h3><a href="{esc(p.abs_url)}" rel="noopener noreferrer">'
                f'{title}</a></h3><p class=repeat>{ui["repeat"]} {where}</p></div></article>')
    facts = (f'<p class=facts><span>{ui["authors"]}: {esc(authors) or "—"}</span> · '
             f'<span class=upvotes>▲ {int(p.upvotes or 0)} {ui["upvotes"]}</span></p>')
    return (f'{head}<div class=media>{_media(p)}</div><div class=body><h3><a href="{esc(p.abs_url)}" '
            f'rel="noopener noreferrer">{title}</a></h3>{facts}<p class=links>{_links(p)}</p>'
            f'{summary_html(st, e, ui)}</div></article>')


# ---- pages

CSS = """
:root{color-scheme:light dark;--bg:#fdfdfc;--fg:#1d1f23;--muted:#5d636b;--card:#f3f4f6;--line:#dde0e4;--accent:#0b57d0}
@media (prefers-color-scheme:dark){:root{--bg:#111317;--fg:#e4e6ea;--muted:#9aa0a8;--card:#1b1e23;--line:#2c3038;
--accent:#8ab4f8}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:62rem;padding:1rem 1.25rem 4rem;background:var(--bg);color:var(--fg);line-height:1.6;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Helvetica Neue",Arial,sans-serif}
:lang(zh){font-family:"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","Noto Sans SC",
"Source Han Sans SC",system-ui,sans-serif;line-height:1.8;line-break:strict}
:lang(ko){font-family:"Apple SD Gothic Neo","Malgun Gothic","Noto Sans CJK KR","Noto Sans KR","Source Han Sans K",
system-ui,sans-serif;line-height:1.75;word-break:keep-all;overflow-wrap:break-word}
a{color:var(--accent)}h1{font-size:1.6rem;line-height:1.3}nav{font-size:.95rem;color:var(--muted)}
.tools{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;position:sticky;top:0;padding:.6rem 0;
background:var(--bg);border-bottom:1px solid var(--line);z-index:1}
.tools input{font:inherit;padding:.35rem .5rem;border:1px solid var(--line);border-radius:.4rem;background:var(--card);
color:var(--fg)}.tools input[type=search]{flex:1 1 16rem}.tools input[type=number]{width:8rem}
#count{color:var(--muted);font-size:.9rem}
.paper{display:grid;grid-template-columns:minmax(0,14rem) minmax(0,1fr);gap:1rem;padding:1rem 0;
border-bottom:1px solid var(--line)}.paper[hidden]{display:none}
.paper h3{margin:0 0 .25rem;font-size:1.12rem;line-height:1.4;overflow-wrap:anywhere}
.thumb{width:100%;aspect-ratio:40/21;object-fit:cover;border-radius:.4rem;background:var(--card)}
.facts,.links{margin:.15rem 0;color:var(--muted);font-size:.9rem}.summary h4{margin:.7rem 0 .2rem;font-size:.95rem}
.summary p,.summary ul{margin:.2rem 0}.unavailable,.repeat{color:var(--muted);font-style:italic}
code{background:var(--card);padding:0 .25rem;border-radius:.25rem}
.index td,.index th{padding:.2rem .8rem .2rem 0;text-align:left;vertical-align:top}
.index ul{margin:0;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:.15rem .8rem}.index li{white-space:nowrap}
@media (max-width:40rem){.paper{grid-template-columns:1fr}}
"""

# Filters the papers by the words of the search box (all in title, abstract, authors or summary), an author and a
# minimum of upvotes. Its state lives in the URL's fragment (#q=...&author=...&min=...), or ?q=... on first load,
# so a filtered page can be bookmarked and opened as it was; nothing is fetched, so file:// works.
SCRIPT = """
(function () {
  var q = document.getElementById("q"), au = document.getElementById("author"), mn = document.getElementById("min");
  var count = document.getElementById("count");
  var papers = Array.prototype.slice.call(document.querySelectorAll("article.paper"));
  function read(s) {
    var out = {};
    s.replace(/^[#?]/, "").split("&").forEach(function (kv) {
      if (!kv) return;
      var i = kv.indexOf("="), k = i < 0 ? kv : kv.slice(0, i), v = i < 0 ? "" : kv.slice(i + 1);
      try { out[decodeURIComponent(k)] = decodeURIComponent(v.replace(/\\+/g, " ")); } catch (e) { /* bad escape */ }
    });
    return out;
  }
  function apply() {
    var words = q.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var who = au.value.toLowerCase().trim(), least = parseInt(mn.value, 10) || 0, shown = 0;
    papers.forEach(function (p) {
      var text = p.getAttribute("data-text");
      var ok = words.every(function (w) { return text.indexOf(w) >= 0; }) &&
        (!who || p.getAttribute("data-authors").indexOf(who) >= 0) &&
        (parseInt(p.getAttribute("data-upvotes"), 10) || 0) >= least;
      p.hidden = !ok;
      if (ok) shown++;
    });
    count.textContent = shown + " / " + papers.length + " " + count.getAttribute("data-label");
  }
  function save() {
    var parts = [];
    if (q.value) parts.push("q=" + encodeURIComponent(q.value));
    if (au.value) parts.push("author=" + encodeURIComponent(au.value));
    if (mn.value) parts.push("min=" + encodeURIComponent(mn.value));
    try { history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname + location.search); }
    catch (e) { /* some file:// contexts refuse it; the filter still works */ }
  }
  var start = read(location.hash.length > 1 ? location.hash : location.search);
  q.value = start.q || ""; au.value = start.author || ""; mn.value = start.min || "";
  [q, au, mn].forEach(function (el) { el.addEventListener("input", function () { apply(); save(); }); });
  apply();
  document.body.setAttribute("data-ready", "1");
})();
"""


def _page(title: str, lang: str, body: str, script: bool = False, feed: str | None = None) -> str:
    alt = f'<link rel=alternate type="application/atom+xml" href="{esc(feed)}">' if feed else ""
    js = f"<script>{SCRIPT}</script>" if script else ""
    return (f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta name="color-scheme" content="light dark"><title>{esc(title)}</title>{alt}'
            f"<style>{CSS}</style></head>\n<body>{body}{js}</body></html>\n")


def title_of(d: Digest) -> str:
    return f"{d.name} · {d.style.name}"


def digest_page(d: Digest, siblings: list[Digest], pages: set[str]) -> str:
    ui = UI[d.style.language]
    i = siblings.index(d)
    nav = [f'<a href="../index.html">{ui["all"]}</a>', f'<a href="feed.xml">{ui["feed"]}</a>',
           f'<a href="{esc(list_url(d.name))}" rel="noopener noreferrer">{ui["list"]}</a>']
    if i + 1 < len(siblings):
        nav.append(f'<a href="{esc(siblings[i + 1].name)}.html">← {ui["prev"]} {esc(siblings[i + 1].name)}</a>')
    if i > 0:
        nav.append(f'<a href="{esc(siblings[i - 1].name)}.html">{ui["next"]} {esc(siblings[i - 1].name)} →</a>')
    tools = (f'<div class=tools role=search><input type=search id=q placeholder="{ui["search"]}" '
             f'aria-label="{ui["search"]}"><input id=author placeholder="{ui["author"]}" aria-label="{ui["author"]}">'
             f'<input type=number id=min min=0 placeholder="{ui["min"]}" aria-label="{ui["min"]}">'
             f'<span id=count data-label="{ui["shown"]}"></span></div>')
    papers = "".join(paper_html(d, e, pages) for e in d.entries) or f"<p>{ui['empty']}</p>"
    body = (f"<header><nav>{' · '.join(nav)}</nav><h1>{esc(title_of(d))}</h1>"
            f"<p>{esc(_description(d.style))}</p></header>{tools}<main>{papers}</main>")
    return _page(title_of(d), LANG[d.style.language], body, script=True, feed="feed.xml")


def _description(st: Style) -> str:
    """The style's description without its Markdown link syntax."""
    return re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", st.description)


def index_page(by_style: dict[str, list[Digest]]) -> str:
    rows = []
    for name, digests in sorted(by_style.items()):
        cells = []
        for kind in KINDS:
            items = [d for d in digests if d.kind == kind]
            links = "".join(f'<li><a href="{esc(d.path)}">{esc(d.name)}</a> <small>({len(d.entries)})</small></li>'
                            for d in items)
            cells.append(f"<td><ul>{links}</ul></td>" if items else "<td>—</td>")
        rows.append(f'<tr><th><a href="{esc(name)}/feed.xml" title="Atom feed">{esc(name)}</a></th>{"".join(cells)}</tr>')
    table = ("<table class=index><thead><tr><th>Style (feed)</th><th>Days</th><th>Weeks</th><th>Months</th></tr>"
             f"</thead><tbody>{''.join(rows)}</tbody></table>") if rows else "<p>No digests yet.</p>"
    return _page("Daily Papers digests", "en", f"<header><h1>Daily Papers digests</h1></header><main>{table}</main>")


# ---- Atom

ATOM = "http://www.w3.org/2005/Atom"


def feed(name: str, digests: list[Digest], base_url: str = "") -> str:
    """The style's Atom feed: one entry per digest (newest first), its papers and summaries as HTML content.
    ElementTree escapes every text and attribute. Links are absolute under `base_url` when given, else relative
    to the feed itself (which lies beside the style's pages)."""
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed")
    base = base_url.rstrip("/") + "/" if base_url else ""
    ident = base or "urn:summarizer:site:"

    def sub(parent, tag, text=None, **attrs):
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    sub(root, "id", f"{ident}{name}/feed.xml")
    sub(root, "title", f"Daily Papers digests · {name}")
    sub(root, "updated", max((d.written_at for d in digests), default="1970-01-01T00:00:00Z") or "1970-01-01T00:00:00Z")
    sub(root, "link", rel="self", href=f"{base}{name}/feed.xml" if base else "feed.xml")
    sub(sub(root, "author"), "name", "summarizer")
    sub(root, "generator", "summarizer")
    for d in digests:
        ui = UI[d.style.language]
        el = sub(root, "entry")
        sub(el, "id", f"{ident}{d.path}")
        sub(el, "title", f"{title_of(d)} ({len(d.entries)} {ui['papers']})")
        sub(el, "updated", d.written_at or "1970-01-01T00:00:00Z")
        sub(el, "link", rel="alternate", type="text/html", href=f"{base}{d.path}" if base else f"{d.name}.html")
        content = "".join(_feed_paper(d, e) for e in d.entries) or f"<p>{ui['empty']}</p>"
        sub(el, "content", content, type="html")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _feed_paper(d: Digest, e: Entry) -> str:
    p, ui = e.paper, UI[d.style.language]
    head = f'<h3><a href="{esc(p.abs_url)}">{esc(p.title or p.id)}</a></h3>'
    if p.repeat_of:
        return f"{head}<p>{ui['repeat']} {esc(p.repeat_of)}</p>"
    facts = f"<p>{ui['authors']}: {esc(', '.join(p.authors)) or '—'} · ▲ {int(p.upvotes or 0)}</p>"
    return head + facts + summary_html(d.style, e, ui)


# ---- the whole site

def build(docs: list[tuple[str, dict]], base_url: str = "") -> tuple[dict[str, str], list[str]]:
    """(where, sidecar document) pairs → ({relative path: file text}, one line per sidecar left out and why)."""
    digests, skipped = [], []
    for where, doc in docs:
        try:
            digests.append(read(doc, where))
        except SummarizerError as exc:
            skipped.append(str(exc))
        except (TypeError, ValueError, AttributeError) as exc:  # a paper or record of the wrong shape
            skipped.append(f"The sidecar {where} could not be read ({one_line(str(exc), 200)}).")
    by_style: dict[str, list[Digest]] = {}
    for d in sorted(digests, key=lambda d: d.ends, reverse=True):  # newest first
        by_style.setdefault(d.style.name, []).append(d)
    files = {"index.html": index_page(by_style)}
    pages = {d.path for d in digests}
    for name, ds in by_style.items():
        for kind in KINDS:
            siblings = [d for d in ds if d.kind == kind]
            for d in siblings:
                files[d.path] = digest_page(d, siblings, pages)
        files[f"{name}/feed.xml"] = feed(name, ds, base_url)
    return files, skipped


def load(home: Path | None = None) -> list[tuple[str, dict]]:
    """Every sidecar under $SUMMARIZER_HOME/digests as (its path, its document); unreadable ones are warned about."""
    root = (home or archive.home()) / "digests"
    docs = []
    for path in sorted(root.glob("*/*.json")):
        try:
            docs.append((str(path), json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError) as exc:
            log.warning("warning: skipped the unreadable sidecar %s (%s).", path, exc)
    return docs


def write(files: dict[str, str], out: Path) -> list[Path]:
    """Write the site under `out` (each file atomically); returns the paths written."""
    written = []
    for rel, text in sorted(files.items()):
        path = Path(out) / rel
        archive.write_atomic(path, text)
        written.append(path)
    return written
