"""The README's commands run as written: every line of its ```sh blocks, in a fresh working folder with its own
./data, against a loopback Hugging Face endpoint serving an invented day. A line marked `# needs: ...` (a GPU, a
model that is not here, the whole test suite) is listed, not run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from summarizer.papers import parse_feed

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
DAY = "2025-10-26"  # the day the README's commands name


def readme_commands() -> tuple[list[str], list[str]]:
    """(lines to run, lines marked `# needs:`), in README order."""
    lines = [line.strip() for block in FENCE.findall((ROOT / "README.md").read_text(encoding="utf-8"))
             for line in block.splitlines() if line.strip()]
    return [x for x in lines if "# needs:" not in x], [x for x in lines if "# needs:" in x]


def test_the_readme_has_commands_to_run_and_marks_the_others():
    run, marked = readme_commands()
    assert any(x.startswith("make digest") for x in run) and any(x.startswith("make finetune ") for x in run)
    assert any(x.startswith("make finetune-report") for x in run)
    assert all(re.search(r"# needs: \S", x) for x in marked)


# Papers of the invented bench day the endpoint serves for DAY: few and short, so the real model's run stays short,
# and none of the feed's three most upvoted, which the README's feed command (--limit 3, the next day) then digests
# as new papers: the day the README's dataset holds out for the eval.
SERVED = ("2611.04377", "2611.04689", "2611.05704", "2611.04950", "2611.05512", "2611.05178")


def hf_day_items() -> list[dict]:
    """Papers of the invented bench day, in the HF daily papers API's shape."""
    papers, _ = parse_feed((ROOT / "tests" / "fixtures" / "bench-day.xml").read_bytes(), DAY, "fixture")
    papers = [p for p in papers if p.id in SERVED]
    return [{"paper": {"id": p.id, "title": p.title, "summary": p.abstract, "upvotes": p.upvotes,
                       "authors": [{"name": a} for a in p.authors], "publishedAt": f"{DAY}T08:00:00.000Z"},
             "thumbnail": p.thumbnail, "numComments": 0} for p in papers]


def workdir(tmp: Path) -> Path:
    """A folder that looks like a fresh clone with `make setup` done: the repository's files linked in (so the
    Makefile finds its .venv installed), but its own data/ and a copy of models/ (fine-tuning writes there)."""
    work = tmp / "clone"
    work.mkdir()
    for name in ("Makefile", "pyproject.toml", "README.md", "summarizer", "scripts", "tests", ".venv"):
        (work / name).symlink_to(ROOT / name)
    (work / "models").mkdir()
    for preset in (ROOT / "models").glob("*.yaml"):
        shutil.copy(preset, work / "models" / preset.name)
    return work


@pytest.mark.slow
def test_every_readme_command_runs_as_written(tmp_path, serve):
    from conftest import json_response

    items = hf_day_items()
    server = serve(lambda path, headers: json_response(items if f"date={DAY}" in path and "p=0" in path else [])
                   if path.startswith("/api/daily_papers") else json_response({"error": "not found"}, status=404))
    work = workdir(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "SUMMARIZER_HOME")}
    # One thread: OpenMP's spinning threads make a 2-core machine shared with other jobs many times slower.
    env.update(HF_ENDPOINT=server.url, HF_HUB_DISABLE_TELEMETRY="1", OMP_NUM_THREADS="1")
    commands, _ = readme_commands()
    for command in commands:
        done = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, f"`{command}` failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    digest = work / "data" / "digests" / "en-bullets" / f"{DAY}.md"
    sidecar = json.loads(digest.with_suffix(".json").read_text(encoding="utf-8"))
    assert len(sidecar["papers"]) == len(items) == len(SERVED)
    tuned = work / "models" / "smollm2-135m-en-bullets-lora"
    assert "## Compared with its base" in (tuned / "README.md").read_text(encoding="utf-8")
    assert json.loads((tuned / "eval.json").read_text(encoding="utf-8"))["compared_with"]["examples"] > 0
