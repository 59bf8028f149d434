"""Fixtures shared by the test modules.

Building the book executes its chapters (minutes), so it is built once per
test session, into a temporary folder, and every test that needs the built
HTML (the build checks, the browser test) uses that one build.

The build starts from a copy of the execution cache of the last
``nox -s docs`` in this clone, when there is one. That is safe because a
chapter's cached outputs are keyed by everything it runs (ftbook.build.inputs):
a chapter whose code, examples or environments changed since is executed
again, and the others are exactly what executing them would reproduce. On a
clean clone (CI) there is no cache to copy, and every chapter executes.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import pytest

from ftbook.provision.cache import folder_lock
from ftbook.provision.envs import BOOK_ENVS, NEEDED_ENVS_PREFIX, book_env_python
from ftbook.provision.sources import SOURCES, prepare_sources
from ftbook.run import ROOT, Outcome, run_command

DOCS = ROOT / "docs"
DOCS_CACHE = DOCS / "_build" / ".jupyter_cache"  # nox -s docs's execution cache


def sphinx_build(out: Path, cache: Path) -> Outcome:
    return run_command(
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
    """The whole book, built once for the test session into a fresh folder."""
    root = tmp_path_factory.mktemp("book")
    cache = root / "jupyter_cache"
    with folder_lock(DOCS_CACHE.parent):  # not while a `nox -s docs` in this clone writes it
        if DOCS_CACHE.is_dir():
            shutil.copytree(DOCS_CACHE, cache)
    return BuiltBook(root, sphinx_build(root, cache))


# --------------------------------------------------------------------------
# Which book environments a test needs. `nox -s tests -- <selection>` asks
# before running (--print-needed-envs), so that a selection of 3.14t-only
# tests never builds 3.13t or the TSAN interpreter.


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """*tmp_path* holding a copy of ftbook/ and examples/, as a reader's checkout has them."""
    shutil.copytree(ROOT / "ftbook", tmp_path / "ftbook", ignore=shutil.ignore_patterns("__pycache__"))
    # examples/build holds the demo extension's compiled objects, which a reader's copy would not have
    shutil.copytree(ROOT / "examples", tmp_path / "examples",
                    ignore=shutil.ignore_patterns("__pycache__", "build"))
    return tmp_path


def pytest_addoption(parser):
    parser.addoption("--print-needed-envs", action="store_true",
                     help="with --collect-only: print the book environments the selected tests need")


def needed_envs(item) -> set[str]:
    names = {name for mark in item.iter_markers("needs_envs") for name in mark.args}
    if "built_book" in getattr(item, "fixturenames", ()):
        names |= set(BOOK_ENVS)  # the book runs every environment
    unknown = names - set(BOOK_ENVS) - {SOURCES}
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
    needed = needed_envs(request.node)
    for name in sorted(needed - {SOURCES}):
        book_env_python(name)  # raises ProvisionError: "run nox -s docs, which prepares it"
    if SOURCES in needed:
        prepare_sources(log=lambda _: None)  # a no-op when `nox -s tests` made them, as it does
