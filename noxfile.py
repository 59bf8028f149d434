"""Build the book, run the examples and the tests, on free-threaded CPython.

    nox -s docs        build docs/_build/html (executes the chapters on 3.14t)
    nox -s tests       the pytest suite, including an end-to-end book build
    nox -s examples    run every script in examples/ on 3.14t
    nox -s serve       rebuild and reload the book while you edit
    nox -s linkcheck   check the book's external links
    nox -s browser     build the book, then check it in headless Chromium

The host Python only drives nox. Each session makes its own environment on a
free-threaded interpreter that ``ftbook.interpreters`` finds or builds, so
the sessions use nox's "none" backend and manage those environments
themselves (nox itself cannot create a venv from an interpreter that does
not exist yet).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from ftbook import ProvisionError  # noqa: E402
from ftbook.cache import cache_dir  # noqa: E402
from ftbook.envs import BOOK_ENVS, STAMP, book_env_python, ensure_venv, prepare_book_env  # noqa: E402
from ftbook.gil import check_python  # noqa: E402
from ftbook.interpreters import find_or_build  # noqa: E402
from ftbook.sources import prepare_sources  # noqa: E402

nox.options.default_venv_backend = "none"
nox.options.sessions = ["tests"]
nox.needs_version = ">=2025.2.9"  # nox.project.dependency_groups

DOCS = ROOT / "docs"
BUILD = DOCS / "_build"
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")

# What each session's kernel or test process imports; the GIL must still be
# off afterwards (an extension without Py_mod_gil would turn it back on).
GIL_CHECK_IMPORTS = {
    "docs": ["numpy", "matplotlib", "ipykernel", "myst_nb"],
    "serve": ["numpy", "matplotlib", "ipykernel", "myst_nb"],
    "tests": ["numpy", "matplotlib", "ipykernel", "pytest"],
    "examples": ["numpy"],
    "browser": ["playwright.sync_api"],
}


def free_threaded_env(session: nox.Session, group: str) -> Path:
    """The python of ``.nox/ft-<group>``: 3.14t with the dependency group installed.

    Fails the session with a readable message (no traceback) if the
    interpreter cannot be had or the GIL comes back after the imports.
    """
    try:
        base = find_or_build("3.14t", log=session.log)
        python = ensure_venv(
            ROOT / ".nox" / f"ft-{group}",
            base,
            nox.project.dependency_groups(PYPROJECT, group),
            project=ROOT,
            log=session.log,
        )
        check_python(python, GIL_CHECK_IMPORTS[group])
    except ProvisionError as error:
        session.error(str(error))
    session.log(f"free-threaded, GIL disabled after importing {', '.join(GIL_CHECK_IMPORTS[group])}: {python}")
    return python


def prepare_chapters(session: nox.Session, kernel: Path) -> None:
    """Everything the chapters run besides the kernel, made before they run.

    The book environments (older NumPy on 3.13t, the TSAN interpreter), the
    NumPy source distributions the checker chapter reads, and
    the demo extension compiled for the kernel and, with -fsanitize=thread,
    for the TSAN interpreter. Each step is a no-op when already done.
    """
    for name in BOOK_ENVS:
        try:
            prepare_book_env(name, log=session.log)
        except ProvisionError as error:
            session.error(str(error))
    try:  # the NumPy sdists the finding-races chapter scans: downloaded once, then cached
        prepare_sources(log=session.log)
    except ProvisionError as error:
        session.error(str(error))
    compile_demo_extension(session, kernel)
    compile_demo_extension(session, book_env_python("tsan"), "--sanitize", "thread")


def compile_demo_extension(session: nox.Session, python: Path, *flags: str) -> None:
    """Compile examples/metadata_demo.c for *python*, unless this exact build was already made.

    demo_patterns.py itself skips an up-to-date build, but only after
    starting: under ThreadSanitizer, starting Python and importing NumPy
    takes seconds, too long for an unchanged `nox -s docs`. So a marker
    remembers what was built (the sources, the interpreter's environment,
    the flags); if the build is deleted anyway, the chapters rebuild it on
    first use.
    """
    examples = ROOT / "examples"
    env_stamp = python.parent.parent / STAMP
    key = hashlib.sha256()
    for part in (examples / "metadata_demo.c", examples / "demo_patterns.py", env_stamp):
        key.update(part.read_bytes() if part.exists() else b"-")
    key.update(f"{python} {' '.join(flags)}".encode())
    marker = cache_dir("ext") / f"prepared-{key.hexdigest()[:20]}"
    if marker.exists():
        return
    session.run(str(python), str(examples / "demo_patterns.py"), "--build-only", *flags,
                external=True, silent=True)
    marker.touch()


def sphinx(session: nox.Session, python: Path, builder: str, *extra: str) -> None:
    session.run(
        str(python), "-m", "sphinx", "-b", builder,
        "-W", "--keep-going",  # warnings are errors, but report them all
        "-d", str(BUILD / "doctrees"),
        str(DOCS), str(BUILD / builder), *extra, *session.posargs,
        external=True,
    )


@nox.session
def docs(session: nox.Session) -> None:
    """Build the HTML book into docs/_build/html, executing changed chapters."""
    python = free_threaded_env(session, "docs")
    prepare_chapters(session, python)
    sphinx(session, python, "html")
    session.log(f"open {BUILD / 'html' / 'index.html'}")


@nox.session
def serve(session: nox.Session) -> None:
    """Serve the book on localhost and rebuild it when a file changes."""
    python = free_threaded_env(session, "serve")
    prepare_chapters(session, python)
    session.run(
        str(python), "-m", "sphinx_autobuild", str(DOCS), str(BUILD / "html"),
        "-d", str(BUILD / "doctrees"), "--watch", str(ROOT / "examples"), "--watch", str(ROOT / "ftbook"),
        *session.posargs,
        external=True,
    )


@nox.session
def linkcheck(session: nox.Session) -> None:
    """Check every external link in the book (needs the network)."""
    python = free_threaded_env(session, "docs")
    prepare_chapters(session, python)
    sphinx(session, python, "linkcheck")


@nox.session
def browser(session: nox.Session) -> None:
    """Build the book as `docs` does (quick when nothing changed), then check it in headless Chromium.

    Screenshots of every chapter go to docs/_build/screenshots.
    """
    kernel = free_threaded_env(session, "docs")
    prepare_chapters(session, kernel)
    sphinx(session, kernel, "html")
    python = free_threaded_env(session, "browser")
    session.run(str(python), "-m", "ftbook.browser", str(BUILD / "html"),
                "--screenshots", str(BUILD / "screenshots"), external=True)


@nox.session
def examples(session: nox.Session) -> None:
    """Run every example on 3.14t, each bounded in time; fail if any fails."""
    python = free_threaded_env(session, "examples")
    session.run(str(python), "-m", "ftbook.examples_check", *session.posargs, external=True)


@nox.session
def tests(session: nox.Session) -> None:
    """The pytest suite (provisioning, GIL check, examples, end-to-end book build)."""
    python = free_threaded_env(session, "tests")
    prepare_chapters(session, python)
    session.run(str(python), "-m", "pytest", *session.posargs, external=True)
