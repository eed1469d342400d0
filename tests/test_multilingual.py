"""The multilingual development model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M) writes Chinese and Korean digests that
are about their own papers: slow, and needs `make multilingual-model` (which `make test` runs first)."""

from __future__ import annotations

import json
import re

import pytest
from test_digest import DATE, REAL_LOOKING, hf_item, ids_in, serve_day

from summarizer import digest as pipeline
from summarizer.loading import MULTILINGUAL_GGUF, cache_root

pytestmark = [pytest.mark.slow, pytest.mark.multilingual]
PAPERS = REAL_LOOKING[:2]  # SparseRoute (routing, 40% fewer operations) and ChartQuiz (2,000 chart questions)


@pytest.fixture(scope="module")
def qwen():
    if not (cache_root() / MULTILINGUAL_GGUF).is_file():
        pytest.skip("the multilingual model is not fetched; run `make multilingual-model`")
    from summarizer.engine import load_model

    return load_model("qwen2.5-coder-0.5b")


def own_terms(abstract: str) -> set[str]:
    """What a summary of this abstract can name: its Latin words of 4+ letters and its numbers."""
    return {w.lower() for w in re.findall(r"[A-Za-z]{4,}", abstract)} | set(re.findall(r"\d[\d,.]*", abstract))


@pytest.mark.parametrize("style", ["zh-digest", "ko-bullets"])
def test_each_valid_summary_is_about_its_own_paper(style, qwen, serve, home, monkeypatch):
    serve_day(serve, monkeypatch, [hf_item(pid, title, up, abstract) for pid, title, up, abstract in PAPERS])
    result = pipeline.digest(DATE, style, home=home, lm=qwen, arxiv=False, retries=2)
    page = result.path.read_text(encoding="utf-8")
    assert [i for i, _ in ids_in(page)] == [p[0] for p in PAPERS]
    records = json.loads(result.sidecar.read_text(encoding="utf-8"))["records"]
    valid = {pid: rec for pid, rec in records.items() if not rec["problems"]}
    assert len(valid) >= 1, {pid: rec["problems"] for pid, rec in records.items()}
    for pid, _, _, abstract in PAPERS:
        if pid not in valid:
            continue
        text = json.dumps(valid[pid]["fields"], ensure_ascii=False).lower()
        other = next(a for p, _, _, a in PAPERS if p != pid)
        mine = own_terms(abstract) - own_terms(other)  # names only this paper's abstract has
        assert any(t.lower() in text for t in mine), (pid, valid[pid]["fields"])
