"""Pages a reader finishes: what ftbook.tools.words counts, the budgets it reads, and the book's pages."""

import pytest

from ftbook.tools import words

PAGE = """<html><body><nav>Navigation words that are not the page</nav>
<article class="bd-article">
<h1>Title here</h1>
<p>One two three four.</p>
<div class="cell docutils container">
  <div class="cell_input docutils container"><div class="highlight"><pre>code code code code</pre></div></div>
  <div class="cell_output docutils container"><div class="output stream"><pre>five six</pre></div></div>
</div>
<div class="highlight-c"><div class="highlight"><pre>int x = 1;</pre></div></div>
<details class="sd-dropdown"><summary>The build's evidence: seven</summary><p>hidden hidden</p></details>
<details open><summary>eight</summary><p>nine ten</p></details>
{table}
</article></body></html>"""


def table(rows: int) -> str:
    body = "".join(f"<tr><td>r{i}</td></tr>" for i in range(rows))
    return f"<table><thead><tr><th>head</th></tr></thead><tbody>{body}</tbody></table>"


def test_words_are_prose_outputs_and_dropdown_titles_not_code_or_what_is_collapsed(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(PAGE.format(table=""))
    measured = words.measure(page, "chapters/page", {})
    # Title here | One two three four | five six | The build's evidence: seven | eight nine ten
    assert measured.words == 2 + 4 + 2 + 4 + 3
    assert measured.budget == words.CHAPTER and measured.problems == []


def test_a_long_table_on_arrival_is_a_problem_and_a_collapsed_one_is_not(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(PAGE.format(table=table(words.LONG_TABLE + 1)))
    assert words.measure(page, "reference", {"reference": "Reference"}).long_tables == [words.LONG_TABLE + 1]
    page.write_text(PAGE.format(table=f"<details><summary>all rows</summary>{table(99)}</details>"))
    assert words.measure(page, "reference", {"reference": "Reference"}).long_tables == []


def test_budgets_come_from_the_part_a_page_is_in(tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    (docs / "part").mkdir(parents=True)
    (docs / "index.md").write_text(
        "# Book\n\n```{toctree}\n:caption: The case\n\ncase\n```\n\n"
        "```{toctree}\n:maxdepth: 1\n:caption: More\n\npart/index\n```\n\n"
        "```{toctree}\n:caption: Appendix\n\nextra\n```\n")
    (docs / "part" / "index.md").write_text("# Part\n\n```{toctree}\n:hidden:\n\nchild\n```\n")
    placed = words.parts(docs)
    assert placed == {"case": "The case", "part/index": "More", "part/child": "More", "extra": "Appendix"}
    assert words.budget("index", placed) == words.LANDING
    assert words.budget("case", placed) == words.CASE
    assert words.budget("part/child", placed) == words.CHAPTER
    assert words.budget("extra", placed) is None


def test_over_budget_says_what_to_do(tmp_path):
    page = words.Page("chapters/long", 2600, words.CHAPTER, [])
    assert page.problems == ["chapters/long: 2600 words on arrival, over its budget of 2500: cut it, split "
                             "it, or move evidence into a collapsed dropdown"]


@pytest.mark.slow
def test_every_page_of_the_book_is_within_its_budget(built_book):
    assert built_book.ok, "the book did not build (see test_book_builds)"
    pages = words.measure_book(built_book.html)
    assert {"index", "rules", "chapters/the-bug"} <= {page.docname for page in pages}
    problems = [problem for page in pages for problem in page.problems]
    assert not problems, "\n".join(problems)
