"""The documentation stays true: generated pages match the code, links resolve, cited tests exist, the README is short."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
CITED_TEST = re.compile(r"`?(tests/[\w/]+\.py)(?:::(\w+))?")


def test_generated_pages_match_the_code():
    """docs/validation.md and docs/configuration.md are rewritten from the rules' docstrings and the settings'
    comments; a change to either without `python scripts/docs.py` fails here."""
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "docs.py"), "--check"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_the_generated_pages_name_every_rule_and_setting():
    from summarizer import config, finetune, validate

    validation = (ROOT / "docs" / "validation.md").read_text(encoding="utf-8")
    assert all(f"| `{name}` |" in validation for name in validate.RULES)
    configuration = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for cls in (config.GenerationConfig, config.ModelPreset, finetune.Recipe):
        for f in cls.__dataclass_fields__:
            if f != "path":
                assert f"| `{f}` |" in configuration, f"{cls.__name__}.{f} is not documented"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_cited_test_exists(page):
    for path, name in CITED_TEST.findall(page.read_text(encoding="utf-8")):
        assert (ROOT / path).exists(), f"{page.name} cites missing {path}"
        if name:
            assert re.search(rf"^def {name}\(", (ROOT / path).read_text(encoding="utf-8"), re.M), \
                f"{page.name} cites missing {path}::{name}"


def test_the_readme_is_a_five_minute_read():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


def _comments_and_docstrings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every comment and docstring of a module: where stories would be told (strings are data)."""
    source = path.read_text(encoding="utf-8")
    out = [(t.start[0], t.string) for t in tokenize.generate_tokens(io.StringIO(source).readline)
           if t.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                out.append((first.lineno, first.value.value))
    return out


def test_code_comments_tell_no_dated_stories():
    """A date in a comment or docstring is the day a rule was motivated, a story for docs/BENCHMARKS.md or a commit
    message. Dates that are data pass: strings (help examples), a command's own date (`--date 2025-10-26`) and the
    daily-arXiv-ai-enhanced file-name format."""
    allowed = re.compile(r"\d{4}-\d{2}-\d{2}_AI_enhanced")
    for path in sorted((ROOT / "summarizer").glob("*.py")):
        for line, text in _comments_and_docstrings(path):
            dates = [m for m in re.finditer(r"(?<!--date )(?<!DATE=)20\d{2}-\d{2}-\d{2}\S*", text)
                     if not allowed.match(m.group(0))]
            assert not dates, f"{path.name}:{line} tells a dated story: {dates[0].group(0)}"
