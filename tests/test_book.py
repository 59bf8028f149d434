"""The book builds into a fresh folder, and an unchanged rebuild executes nothing."""

import re

import pytest

from ftbook.build.cells import chapter_name, notebooks
from ftbook.run import ROOT

DOCS = ROOT / "docs"
CHAPTERS = notebooks()  # every executable page, a part's pages included


@pytest.mark.parametrize("chapter", CHAPTERS, ids=chapter_name)
def test_chapter_starts_by_checking_the_gil(chapter):
    # The first executed cell of every chapter must refuse to run with the GIL on.
    first_cell = re.search(r"```\{code-cell\}[^\n]*\n(.*?)```", chapter.read_text(), re.S)
    assert first_cell and "check_kernel()" in first_cell.group(1), chapter.name


@pytest.mark.slow
def test_book_builds(built_book):
    first = built_book.outcome
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    html = built_book.html
    about = (html / "chapters" / "about-this-build.html").read_text()
    assert "Py_GIL_DISABLED build: True" in about
    assert "GIL enabled at run time (after importing NumPy): False" in about
    assert (html / "index.html").exists() and (html / "search.html").exists()


@pytest.mark.slow
def test_example_pages_link_the_example_itself(built_book):
    # The theme's "Show source" and "Suggest edit" would link docs/examples/NAME.md, a file only the
    # build has: on GitHub, a 404 on every example page.
    assert built_book.ok, "the first build failed (see test_book_builds)"
    page = (built_book.html / "examples" / "shape_watcher.html").read_text()
    assert "/blob/main/examples/shape_watcher.py?plain=1" in page
    assert "/edit/main/examples/shape_watcher.py" in page
    assert "docs/examples/shape_watcher.md" not in page


@pytest.mark.slow
def test_unchanged_rebuild_executes_nothing(built_book):
    assert built_book.ok, "the first build failed (see test_book_builds)"
    second = built_book.rebuild()
    assert second.returncode == 0, second.stderr[-4000:]
    assert "Executing" not in second.stdout + second.stderr  # nothing re-executed
