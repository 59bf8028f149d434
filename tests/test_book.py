"""The book builds from scratch, and an unchanged rebuild executes nothing."""

import re
import sys
import time
from pathlib import Path

import pytest

from ftbook.run import ROOT, run

DOCS = ROOT / "docs"
CHAPTERS = sorted((DOCS / "chapters").glob("*.md"))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_starts_by_checking_the_gil(chapter):
    # The first executed cell of every chapter must refuse to run with the GIL on.
    first_cell = re.search(r"```\{code-cell\}[^\n]*\n(.*?)```", chapter.read_text(), re.S)
    assert first_cell and "check_kernel()" in first_cell.group(1), chapter.name


def sphinx_build(out: Path, cache: Path):
    return run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going",
         "-d", out / "doctrees", DOCS, out / "html",
         "-D", f"nb_execution_cache_path={cache}"],
        timeout=3600,
    )


@pytest.mark.slow
def test_book_builds_from_scratch_then_rebuilds_quickly(tmp_path):
    first = sphinx_build(tmp_path, tmp_path / "jupyter_cache")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    html = tmp_path / "html"
    about = (html / "chapters" / "about-this-build.html").read_text()
    assert "Py_GIL_DISABLED build: True" in about
    assert "GIL enabled at run time (after importing NumPy): False" in about
    assert (html / "index.html").exists() and (html / "search.html").exists()

    started = time.monotonic()
    second = sphinx_build(tmp_path, tmp_path / "jupyter_cache")
    assert second.returncode == 0, second.stderr[-4000:]
    assert "Executing" not in second.stdout + second.stderr  # nothing re-executed
    assert time.monotonic() - started < 15
