"""Fixtures shared by the test modules.

Building the book executes every chapter (minutes), so it is built once per
test session, into a temporary folder with an empty execution cache, and
every test that needs the built HTML (the build checks, the browser test)
uses that one build.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from ftbook.envs import BOOK_ENVS, NEEDED_ENVS_PREFIX, book_env_python
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


# --------------------------------------------------------------------------
# Which book environments a test needs. `nox -s tests -- <selection>` asks
# before running (--print-needed-envs), so that a selection of 3.14t-only
# tests never builds 3.13t or the TSAN interpreter.


def pytest_addoption(parser):
    parser.addoption("--print-needed-envs", action="store_true",
                     help="with --collect-only: print the book environments the selected tests need")


def needed_envs(item) -> set[str]:
    names = {name for mark in item.iter_markers("needs_envs") for name in mark.args}
    if "built_book" in getattr(item, "fixturenames", ()):
        names |= set(BOOK_ENVS)  # the book runs every environment
    unknown = names - set(BOOK_ENVS)
    if unknown:
        raise pytest.UsageError(f"{item.nodeid}: needs_envs names unknown environments {sorted(unknown)}")
    return names


def pytest_collection_finish(session):
    if session.config.getoption("--print-needed-envs"):
        needed = sorted(set().union(*(needed_envs(item) for item in session.items)))
        print(NEEDED_ENVS_PREFIX + json.dumps(needed))


@pytest.fixture(autouse=True)
def _needed_envs_are_prepared(request):
    """A test marked as needing an environment fails at once, saying so, if it is not there."""
    for name in sorted(needed_envs(request.node)):
        book_env_python(name)  # raises ProvisionError: "run nox -s docs, which prepares it"
