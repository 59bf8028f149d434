"""The built book, as a reader sees it: headless Chromium driven by Playwright.

The book test uses the book built once for the test session (``built_book``
in conftest); the checks it makes are each tried first on small pages.
Chromium is Debian's; ``find_chromium`` installs it with apt when missing and
the tests run as root (as CI does). Elsewhere, install it or point
``$FTBOOK_CHROMIUM`` at one; ``FTBOOK_SKIP_BROWSER=1`` skips this test.
"""

import os
import shutil
import tempfile

import pytest

from ftbook import ProvisionError
from ftbook.run import ROOT

SCREENSHOTS = ROOT / "docs" / "_build" / "screenshots"


@pytest.fixture(scope="module")
def chromium():
    from ftbook.tools.browser import find_chromium

    try:
        return find_chromium()
    except ProvisionError as error:
        if os.environ.get("FTBOOK_SKIP_BROWSER") == "1":
            pytest.skip(f"FTBOOK_SKIP_BROWSER=1: {error}")
        pytest.fail(str(error), pytrace=False)


@pytest.mark.slow
def test_book_in_a_real_browser(built_book, chromium):
    from ftbook.tools.browser import check_site

    assert built_book.ok, "the book did not build (see test_book_builds)"
    report = check_site(built_book.html, SCREENSHOTS, chromium=chromium)
    print(report.summary())
    assert not report.problems, report.summary()
    assert report.chapters and report.reached == report.chapters
    assert any("finding-races" in hit for hit in report.search_hits), report.search_hits
    chapters = [page for page in report.pages if page.path in report.chapters]
    assert all(page.screenshot for page in chapters)
    assert sum(page.code_cells for page in chapters) > 0  # copy buttons were checked on real cells
    assert sum(page.images for page in chapters) > 0  # the book's figures exist, and rendered


# --------------------------------------------------------------------------
# Each of the checks on small pages: one that breaks it, one that keeps it.
# The pages are served as the book is and measured in the same Chromium; a
# page that links the book's own stylesheet shows that the stylesheet is what
# keeps the rule.

BOOK_CSS = ROOT / "docs" / "_static" / "ftbook.css"
# The rules of the book's theme and Sphinx that these checks meet on the book's pages.
THEME_CSS = """
.pst-scrollable-table-container { overflow-x: auto; }  /* pydata-sphinx-theme, _tables.scss */
:is(h1, h2, h3, h4, h5, h6) > code { display: inline-block; }  /* pydata-sphinx-theme, _article.scss */
span.pre { white-space: nowrap; hyphens: none; }  /* Sphinx, basic.css */
article { max-width: 700px; }
"""
WIDE_ROW = "<tr>" + "".join(f"<td>cell{n}_with_a_long_unbreakable_value_{n}</td>" for n in range(8)) + "</tr>"
HEADER = "<tr>" + "".join(f"<th>column{n}</th>" for n in range(8)) + "</tr>"


def table(rows: int) -> str:
    return f"<table>{HEADER}{WIDE_ROW * rows}</table>"


@pytest.fixture(scope="module")
def pages(chromium, tmp_path_factory):
    """``show(body, book_css=False)``: a page with *body* in a 700 px article, loaded in Chromium.

    The page is made like the book's (the theme's rules it meets, THEME_CSS)
    and, with *book_css*, links the book's stylesheet.
    """
    from playwright.sync_api import sync_playwright

    from ftbook.tools.browser import launch, serve

    folder = tmp_path_factory.mktemp("pages")
    shutil.copy(BOOK_CSS, folder / "ftbook.css")
    count = iter(range(1_000))
    with serve(folder) as base, sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = launch(playwright, chromium, profile)
        page = context.new_page()

        def show(body: str, *, book_css: bool = False):
            link = '<link rel="stylesheet" href="ftbook.css">' if book_css else ""
            name = f"page{next(count)}.html"
            (folder / name).write_text(
                f"<!doctype html><html><head><meta name='viewport' content='width=device-width'>"
                f"<style>{THEME_CSS}</style>{link}</head><body><div class='bd-article-container'>"
                f"<article class='bd-article'><section><h2>Results</h2>{body}</section></article>"
                "</div></body></html>")
            page.set_viewport_size({"width": 1400, "height": 900})
            page.goto(base + name)
            return page

        try:
            yield show
        finally:
            context.close()


def layout(page) -> list[str]:
    from ftbook.tools.browser import check_layout

    return check_layout(page)


def test_a_table_its_box_cuts_off_is_clipped(pages):
    problems = layout(pages(f"<div style='overflow-x: hidden'>{table(3)}</div>"))
    assert any(p.startswith("at 1400 px table 1 (columns: column0,") and " is clipped: " in p
               and "cut off by div (overflow-x: hidden)" in p and "in section 'Results'" in p
               for p in problems), problems
    assert layout(pages(f"<div style='overflow-x: auto'>{table(3)}</div>")) == []


def test_a_table_taller_than_the_screen_must_show_that_it_scrolls(pages):
    # Its scrollbar is at its bottom, a screen below its top: the theme's box alone looks clipped.
    box = f"<div class='pst-scrollable-table-container'>{table(60)}</div>"
    problems = layout(pages(box))
    assert any(p.startswith("at 1400 px table 1 ") and "scrolls sideways with nothing to show it" in p
               and "no fade or shadow marks its edge" in p for p in problems), problems
    assert layout(pages(box, book_css=True)) == []


def test_a_scroll_box_with_its_scrollbar_hidden_shows_nothing(pages):
    problems = layout(pages(f"<div style='overflow-x: auto; scrollbar-width: none'>{table(3)}</div>"))
    assert any("scrolls sideways with nothing to show it" in p and "it has no scrollbar" in p
               for p in problems), problems
    assert layout(pages(f"<div style='overflow-x: auto; scrollbar-width: thin'>{table(3)}</div>")) == []


def test_a_table_in_a_closed_dropdown_is_measured_as_a_reader_opening_it_sees_it(pages):
    from ftbook.tools.browser import measure_layout

    page = pages(f"<details><summary>every row</summary>{table(3)}</details>")
    measured = measure_layout(page)
    assert [found["status"] for found in measured["elements"]] == ["overflows"], measured
    assert page.evaluate("document.querySelector('details').open") is False  # closed again, as it was


def test_a_table_with_no_box_runs_past_the_column(pages):
    problems = layout(pages(table(3)))
    assert any(p.startswith("at 1400 px table 1 ") and "px past the text column" in p
               for p in problems), problems
    assert layout(pages("<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>")) == []


@pytest.mark.parametrize("html", [
    "<h3><code class='docutils literal notranslate'><span class='pre'>{name}</span></code></h3>",
    "<p>Set <code class='docutils literal notranslate'><span class='pre'>{name}</span></code> first.</p>",
], ids=["in a heading", "in a paragraph"])
def test_a_long_name_makes_the_page_scroll_sideways_at_420_px(pages, html):
    body = html.format(name="parallel_tests/test_parallel_" + "long_" * 12 + "name.py")
    problems = layout(pages(body))
    assert len(problems) == 1 and problems[0].startswith(
        "at 420 px the page scrolls sideways: it is "), problems
    assert "too wide: span.pre in section 'Results' ('parallel_tests/test_parallel_long_" in problems[0]
    assert layout(pages(body, book_css=True)) == []


def test_a_code_block_scrolls_inside_its_own_box_at_420_px(pages):
    line = "x = compute(" + ", ".join(f"argument_{n}" for n in range(12)) + ")"
    problems = layout(pages(f"<pre style='overflow: visible'>{line}</pre>"))
    assert any(p.startswith("at 420 px code block 1 (\"x = compute(") and "past the text column" in p
               for p in problems), problems
    assert any(p.startswith("at 420 px the page scrolls sideways") for p in problems), problems
    assert layout(pages(f"<pre style='overflow: auto'>{line}</pre>")) == []


def raw(page) -> list[str]:
    from ftbook.tools.browser import raw_markdown

    return raw_markdown(page)


def test_table_rows_shown_as_text_are_raw_markdown(pages):
    problems = raw(pages("<table><tr><th>a</th></tr></table><p>| <code>PyArray_DIMS</code> | no | yes |\n"
                         "| <code>PyArray_NDIM</code> | no | yes |</p>"))
    assert len(problems) == 2, problems
    assert problems[0] == ("raw Markdown in the page's text: '|  | no | yes |'; a blank line inside a "
                           "Markdown table ends it, and a ** that does not pair up shows as text: fix the "
                           "chapter's Markdown")
    assert raw(pages("<p>Shape and strides: <code>a | b | c</code>, and <code>|x|</code>.</p>")) == []


def test_bold_that_did_not_render_is_raw_markdown(pages):
    problems = raw(pages("<ul><li>This is **not bold **, sadly.</li></ul>"))
    assert len(problems) == 1 and "'This is **not bold **, sadly.'" in problems[0], problems
    assert raw(pages("<p>This is <strong>bold</strong>; <code>**kwargs</code> is code.</p>")) == []


def test_a_cell_printing_a_markdown_table_is_raw_markdown(pages):
    printed = "<div class='cell_output'><pre>| run | result |\n|---|---|\n| 1 | crash |</pre></div>"
    problems = raw(pages(printed))
    assert problems == ["a cell output prints a Markdown table as text ('|---|---|'); "
                        "display it with IPython.display.Markdown"]
    # Printed pipes and ** that are not a table: Python's operators, a report's columns.
    assert raw(pages("<div class='cell_output'><pre>2 ** 10 = 1024 | ok |</pre></div>")) == []
