"""ftbook.build.sphinxext on built pages: no raw Markdown on a page, and no page outlives its example.

The checks read what Sphinx wrote, so they are tried on small Sphinx
projects built here in a few seconds: a copy of ``ftbook/`` and
``examples/`` beside a ``docs/`` folder with no executable chapter.
"""

import json
import shutil
import sys
from pathlib import Path

import pytest

from ftbook.build.sphinxext import CLEAN_PAGES, raw_markdown
from ftbook.run import run_command

CONF = '''
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this copy's ftbook
extensions = ["myst_nb", "ftbook.build.sphinxext"]
nb_execution_mode = "off"
exclude_patterns = ["_build"]
'''
INDEX = "# Tiny\n\n```{toctree}\npage\nexamples/index\n```\n"
TABLE = "| a | b |\n|---|---|\n| one | two |\n"


@pytest.fixture
def book(project_copy):
    """A copy of ftbook/ and examples/, and a docs/ folder with one page of prose and the example pages."""
    tmp_path = project_copy
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "conf.py").write_text(CONF)
    (docs / "index.md").write_text(INDEX)
    (docs / "page.md").write_text(f"# Page\n\n{TABLE}")
    return tmp_path


def build(book: Path):
    docs = book / "docs"
    return run_command([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going",
                        "-d", docs / "_build" / "doctrees", docs, docs / "_build" / "html"], timeout=300)


def html(book: Path) -> Path:
    return book / "docs" / "_build" / "html"


def test_raw_markdown_is_found_in_the_text_a_reader_sees_only():
    page = """<p>| an object field’s <code class="docutils literal"><span class="pre">__lt__</span></code>
    | the first runs | NumPy |</p>
    <table><tr><td>a</td><td>b</td></tr></table>
    <p>this is **not** bold, and <strong>this</strong> is</p>
    <div class="highlight"><pre>| a | b |\nx ** 2</pre></div>
    <p>code: <code>a | b | c</code> and <code>**kwargs</code>;
    math <span class="math">\\(|x| + |y|\\)</span></p>
    <script>var row = "| x | y |";</script>"""
    assert raw_markdown(page) == ["| the first runs | NumPy |", "this is **not** bold, and this is"]
    assert raw_markdown("<p>a | b in prose</p><table><tr><td>|</td><td>|</td></tr></table>") == []


def test_a_table_cut_by_a_blank_line_fails_the_build_naming_the_page(book):
    assert build(book).returncode == 0
    (book / "docs" / "page.md").write_text(f"# Page\n\n{TABLE}\n| three | four |\n")
    outcome = build(book)
    assert outcome.returncode == 1
    warnings = [line for line in outcome.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, outcome.stderr[-3000:]
    assert "page.md: WARNING: the built page shows raw Markdown" in warnings[0]
    assert "'| three | four |'" in warnings[0]


def test_a_page_showing_raw_markdown_keeps_failing_when_nothing_changed(book):
    """The check remembers clean pages only: an unchanged rebuild skips them, never a page that failed."""
    (book / "docs" / "page.md").write_text(f"# Page\n\n{TABLE}\n| three | four |\n")
    for _ in range(2):
        outcome = build(book)
        assert outcome.returncode == 1 and "the built page shows raw Markdown" in outcome.stderr
    clean = json.loads((html(book) / CLEAN_PAGES).read_text())
    assert "page" not in clean and clean, clean
    (book / "docs" / "page.md").write_text(f"# Page\n\n{TABLE}| three | four |\n")
    assert build(book).returncode == 0
    assert "page" in json.loads((html(book) / CLEAN_PAGES).read_text())


def test_an_editors_backup_is_no_example_and_a_gone_examples_page_is_removed(book):
    examples = book / "examples"
    shutil.copy(examples / "shape_watcher.py", examples / "shape_watcher.py.bak")
    (examples / "shape_watcher.py~").write_text("")
    (examples / ".shape_watcher.py.swp").write_text("")
    shutil.copy(examples / "repeat_stress.py", examples / "repeat_stress_old.py")
    built = html(book) / "examples"
    built.mkdir(parents=True)
    (built / "leftover.html").write_text("<p>from a build before the example was removed</p>")
    assert build(book).returncode == 0
    pages = {page.name for page in built.glob("*.html")}
    assert {"shape_watcher.html", "repeat_stress_old.html", "index.html"} <= pages
    assert not {"shape_watcher.py.html", "leftover.html"} & pages, pages
    assert not any("~" in page or "swp" in page for page in pages), pages
    (examples / "repeat_stress_old.py").unlink()  # an example removed (or renamed)
    assert build(book).returncode == 0
    assert not (built / "repeat_stress_old.html").exists()
    assert not (book / "docs" / "examples" / "repeat_stress_old.md").exists()
    assert (built / "repeat_stress.html").exists()
