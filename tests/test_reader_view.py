"""No visible code cell runs the book's machinery: what the check finds, and what it lets through."""

from pathlib import Path

import pytest

from ftbook.build.cells import notebooks
from ftbook.build.reader_view import machinery_in_view

HEAD = "---\nfile_format: mystnb\n---\n\n# A page\n\n"


def cell(source: str, *tags: str) -> str:
    options = f":tags: [{', '.join(tags)}]\n" if tags else ""
    return f"```{{code-cell}} ipython3\n{options}{source}\n```\n\n"


def offences(tmp_path: Path, *cells: str) -> list[tuple[int, str]]:
    page = tmp_path / "page.md"
    page.write_text(HEAD + "".join(cells))
    return machinery_in_view(page)


def test_a_visible_import_of_ftbook_is_reported_at_its_line(tmp_path):
    found = offences(tmp_path, cell("import numpy as np"), cell("from ftbook.run import run_example\nx = 1"))
    assert len(found) == 1
    line, what = found[0]
    assert "imports the book's own package (run_example)" in what
    assert (HEAD + cell("import numpy as np")).count("\n") < line


def test_a_name_imported_in_a_hidden_cell_is_still_the_books(tmp_path):
    found = offences(tmp_path, cell("from ftbook.tables import markdown_table", "remove-cell"),
                     cell("print(markdown_table(['a'], [[1]]))"))
    assert [what for _, what in found] == ["uses names from the book's own package (markdown_table)"]


def test_what_a_hidden_cell_makes_from_the_books_names_is_the_books_too(tmp_path):
    hidden = cell("from ftbook.demo import load_demo_extension\ndemo = load_demo_extension()", "remove-input")
    found = offences(tmp_path, hidden,
                     cell("demo.repeat_copy_modify(a, 2)"))
    assert [what for _, what in found] == ["uses names from the book's own package (demo)"]


def test_hide_input_is_not_hidden_enough(tmp_path):
    # Its toggle says "Show code cell source": a reader who opens it finds code they cannot run.
    assert offences(tmp_path, cell("import ftbook.run", "hide-input"))


def test_reader_code_and_removed_machinery_pass(tmp_path):
    assert offences(tmp_path,
                    cell("from ftbook.run import run_example\nout = run_example('x.py')", "remove-input"),
                    cell("import numpy as np\nprint(np.zeros(3).shape)"),
                    cell("print(out.summary)", "remove-cell")) == []


def test_a_reader_name_that_shadows_nothing_passes(tmp_path):
    # A visible cell may define what a hidden one later feeds to the machinery: the flow goes one way.
    assert offences(tmp_path, cell("rows = [[1, 2]]"),
                    cell("from ftbook.tables import markdown_table\nmarkdown_table(['a', 'b'], rows)",
                         "remove-input")) == []


@pytest.mark.parametrize("chapter", notebooks(), ids=lambda path: path.stem)
def test_no_page_of_the_book_shows_its_machinery(chapter):
    assert machinery_in_view(chapter) == []
