"""Fixtures shared by the test modules.

Building the book executes every chapter (minutes), so it is built once per
test session, into a temporary folder with an empty execution cache, and
every test that needs the built HTML (the build checks, the browser test)
uses that one build.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from ftbook.run import ROOT, Outcome, run

DOCS = ROOT / "docs"


def sphinx_build(out: Path, cache: Path) -> Outcome:
    return run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going",
         "-d", out / "doctrees", DOCS, out / "html",
         "-D", f"nb_execution_cache_path={cache}"],
        timeout=3600,
    )


@dataclasses.dataclass
class BuiltBook:
    root: Path  # html/, doctrees/, jupyter_cache/
    outcome: Outcome  # of the first, from-scratch build

    @property
    def html(self) -> Path:
        return self.root / "html"

    @property
    def ok(self) -> bool:
        return self.outcome.returncode == 0

    def rebuild(self) -> Outcome:
        """Build again into the same folders, with the same execution cache."""
        return sphinx_build(self.root, self.root / "jupyter_cache")


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> BuiltBook:
    """The whole book, built from scratch once for the test session."""
    root = tmp_path_factory.mktemp("book")
    return BuiltBook(root, sphinx_build(root, root / "jupyter_cache"))
