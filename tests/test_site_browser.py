"""The site in a real headless Chromium (Debian's `chromium`): pages load with no console message, and the search
filters the papers from the URL. Skipped only where no chromium can be found (.ci/run tries to install it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_site import every_style_docs

from summarizer import site

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
# slow: each page is a fresh browser (~2 s); the whole file takes ~10 s on 2 cores.
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="no chromium to run (apt-get install -y chromium)")]


def chromium(url: str, profile: Path, *extra: str) -> tuple[str, list[str]]:
    """(the DOM after the page's scripts ran, the console messages Chromium logged)."""
    res = subprocess.run(
        [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-dev-shm-usage",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--dump-dom", *extra, url],
        capture_output=True, text=True, timeout=120)
    return res.stdout, [line for line in res.stderr.splitlines() if ":CONSOLE" in line]


def shown(dom: str) -> list[str]:
    """The ids of the papers the filter left visible."""
    return [m[1] for m in re.finditer(r'<article class="paper"[^>]*id="p-([^"]+)"[^>]*>', dom) if " hidden" not in m[0]]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    files, _ = site.build(every_style_docs())
    site.write(files, out)
    (out / "broken.html").write_text("<html><body><script>undefinedFunction();</script></body></html>")
    return out


@pytest.mark.parametrize("page,fragment,expected", [
    ("index.html", "", None),
    ("zh-digest/2025-10-20.html", "#q=seen%20before", ["2510.00005"]),
    ("ko-bullets/2025-10-20.html", "?min=10&author=bo+sample", ["2510.00001"]),
])
def test_pages_load_without_console_messages_and_the_filter_applies_the_url(built, tmp_path, page, fragment, expected):
    dom, console = chromium((built / page).as_uri() + fragment, tmp_path)
    assert console == []
    assert "<h1>" in dom
    if expected is not None:
        assert 'data-ready="1"' in dom  # the script ran to its end
        assert shown(dom) == expected
        assert f"{len(expected)} / 5" in dom


def test_a_script_error_is_seen(built, tmp_path):
    _, console = chromium((built / "broken.html").as_uri(), tmp_path)
    assert any("Uncaught ReferenceError" in line for line in console)
