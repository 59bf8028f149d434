"""The built book, as a reader sees it: headless Chromium driven by Playwright.

Uses the book built once for the test session (``built_book`` in conftest).
Chromium is Debian's; ``find_chromium`` installs it with apt when missing and
the tests run as root (as CI does). Elsewhere, install it or point
``$FTBOOK_CHROMIUM`` at one; ``FTBOOK_SKIP_BROWSER=1`` skips this test.
"""

import os

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
