"""The contributor tools: a chapter's cells read with their lines, copies found, who reads a summary key."""

from ftbook.build.cells import code_cells, find_chapter
from ftbook.tools.lint_chapters import copies, extract
from ftbook.tools.uses import readers_of

CHAPTER = """---
file_format: mystnb
---

# A page

```{code-cell} ipython3
:tags: [remove-input]
import os
print(os.sep)
```

Text.

```{code-cell} ipython3
x = 1
y = 2
z = 3
w = 4
v = 5
```
"""


def test_cells_keep_their_chapter_lines_and_tags(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(CHAPTER)
    first, second = code_cells(page)
    assert first.tags == {"remove-input"} and not first.reader_sees_code
    assert CHAPTER.splitlines()[first.line - 1] == "import os"  # the option line is not code
    assert second.reader_sees_code and second.lines == 5
    assert CHAPTER.splitlines()[second.line - 1] == "x = 1"


def test_a_lint_finding_maps_back_to_the_chapter_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(CHAPTER)
    extracted, places = extract(page, tmp_path / "out")
    lines = extracted.read_text().splitlines()
    row = lines.index("z = 3") + 1
    assert CHAPTER.splitlines()[places[row - 1].line - 1] == "z = 3"


def test_code_copied_between_chapters_is_found(tmp_path):
    one, two = tmp_path / "one.md", tmp_path / "two.md"
    one.write_text(CHAPTER)
    two.write_text(CHAPTER.replace("# A page", "# Another page"))
    found = copies([one, two])
    assert len(found) == 1 and "two.md" in found[0]
    assert copies([one]) == []


def test_readers_of_a_summary_key_are_listed():
    report = "\n".join(readers_of("finalize_window.py"))
    assert "root-cause" in report and "tests/test_claims.py" in report
    assert any(line.split()[0] == "hook_saw" and "root-cause" in line for line in report.splitlines()[5:])


def test_a_part_page_is_found_by_name():
    assert find_chapter("root-cause").name == "root-cause.md"
