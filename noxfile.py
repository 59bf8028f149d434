"""Build the book, run the examples and the tests, on free-threaded CPython.

    nox -s docs        build docs/_build/html (executes the chapters on 3.14t)
    nox -s tests       the pytest suite, including an end-to-end book build
    nox -s examples    run every script in examples/ on 3.14t
    nox -s serve       rebuild and reload the book while you edit
    nox -s linkcheck   check the book's external links (executes nothing)
    nox -s lint        ruff, with the project's settings
    nox -s browser     build the book, then check it in headless Chromium
    nox -s chapter -- NAME   execute one chapter (root-cause, family/restore) with only what it needs
    nox -s uses -- NAME      what a chapter runs; or which chapters and tests read an example's keys
    nox -s provision   prepare book environments (and sources) without building anything else
    nox -s lock        refresh the pinned, hashed requirements/ on purpose; print what changed

The host Python only drives nox. Each session makes its own environment on a
free-threaded interpreter that ``ftbook.provision.interpreters`` finds or builds, so
the sessions use nox's "none" backend and manage those environments
themselves (nox itself cannot create a venv from an interpreter that does
not exist yet).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import nox
from nox.command import CommandFailed

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from ftbook import ProvisionError  # noqa: E402
from ftbook.build.cells import find_chapter  # noqa: E402
from ftbook.build.execute import (  # noqa: E402
    DEMO,
    DEMO_TSAN,
    EXECUTED_AHEAD,
    EXECUTION_CACHE,
    KERNEL,
    Readiness,
    execute_ahead,
    forget_executed,
    jobs,
    last_durations,
    plan,
    record_durations,
)
from ftbook.build.failures import digest  # noqa: E402
from ftbook.build.inputs import chapter_inputs, rerun_all  # noqa: E402
from ftbook.build.phases import Phases  # noqa: E402
from ftbook.gil import check_python  # noqa: E402
from ftbook.provision.cache import cache_dir, folder_lock  # noqa: E402
from ftbook.provision.envs import (  # noqa: E402
    BOOK_ENVS,
    NEEDED_ENVS_PREFIX,
    STAMP,
    book_env_python,
    ensure_venv,
    prepare_book_env,
)
from ftbook.provision.instrumented import instrumented_wheel  # noqa: E402
from ftbook.provision.interpreters import INTERPRETERS, find_or_build  # noqa: E402
from ftbook.provision.locks import lock_path  # noqa: E402
from ftbook.provision.side_by_side import run_side_by_side  # noqa: E402
from ftbook.provision.sources import SOURCES, prepare_sources  # noqa: E402

nox.options.default_venv_backend = "none"
nox.options.sessions = ["tests"]
nox.needs_version = ">=2025.2.9"  # nox.project.dependency_groups

DOCS = ROOT / "docs"
BUILD = DOCS / "_build"

# What each session's kernel or test process imports; the GIL must still be
# off afterwards (an extension without Py_mod_gil would turn it back on).
GIL_CHECK_IMPORTS = {
    "docs": ["numpy", "matplotlib", "ipykernel", "myst_nb"],
    "serve": ["numpy", "matplotlib", "ipykernel", "myst_nb"],
    "chapter": ["numpy", "matplotlib", "ipykernel", "myst_nb"],
    "linkcheck": ["myst_nb"],
    "tests": ["numpy", "matplotlib", "ipykernel", "pytest"],
    "examples": ["numpy"],
    "browser": ["numpy", "matplotlib", "ipykernel", "myst_nb", "playwright.sync_api"],
    "lint": [],
    "under-load": ["numpy"],
}


def session_env(session: nox.Session, group: str, log=None) -> Path:
    """Make ``.nox/ft-<group>``: 3.14t with ``requirements/<group>.txt`` installed; return its python."""
    return ensure_venv(
        ROOT / ".nox" / f"ft-{group}",
        find_or_build("3.14t", log=log or session.log),
        lock_path(group),
        project=ROOT,
        log=log or session.log,
    )


INSTRUMENTED = "instrumented NumPy"  # the chain that builds NumPy with ThreadSanitizer


def provision(session: nox.Session, group: str | None, book_envs: Iterable[str] = (), *,
              readiness: Readiness | None = None, beside: dict[str, Callable] | None = None) -> Path | None:
    """The session's own environment and what else it needs, made side by side.

    One chain of steps per interpreter (3.14t: the session's environment;
    3.13t: the old NumPy releases; 3.14t-tsan: the TSAN environment), and
    one for the NumPy sources when *book_envs* includes ``SOURCES``, one for
    the NumPy releases built with ThreadSanitizer when it has their environments, all run
    at once, so that a first run builds the three interpreters in parallel
    while the sdists download. Fails the session with a readable message (no
    traceback) if anything cannot be had, or if the GIL comes back after the
    session's imports. *group* None: no session environment (``provision``).

    With *readiness*, each step marks what it made (the session's
    environment as ``KERNEL``, each book environment by its name, the
    sources), and the chains in *beside* run alongside, waiting on those
    marks (the chapters, ftbook.build.execute).
    """
    book_envs = list(book_envs)
    steps: dict[str, dict] = {}

    def marked(name: str, step: Callable) -> Callable:
        return readiness.step(name, step) if readiness else step

    if group:
        steps["3.14t"] = {"session": marked(KERNEL, lambda log: checked_session_env(session, group, log))}
    sanitized = [BOOK_ENVS[name].sanitized_numpy for name in book_envs
                 if name != SOURCES and BOOK_ENVS[name].sanitized_numpy]
    if sanitized:
        # Built by the plain 3.14t, so they start before the TSAN interpreter is ready, in order:
        # the first of a series in full, the next a step from it (ftbook.provision.instrumented).
        steps[INSTRUMENTED] = {INSTRUMENTED: lambda log: [instrumented_wheel(v, log=log) for v in sanitized]}
    for name in book_envs:
        if name == SOURCES:
            steps[SOURCES] = {SOURCES: marked(SOURCES, lambda log: prepare_sources(log=log))}
        else:
            steps.setdefault(BOOK_ENVS[name].interpreter, {})[name] = marked(
                name, lambda log, name=name: prepare_book_env(name, log=log))
    chains = {key: chain_of(key, todo) for key, todo in steps.items()}
    if readiness:
        chains = {key: readiness.chain([KERNEL if name == "session" else name for name in todo
                                        if name != INSTRUMENTED], chains[key])
                  for key, todo in steps.items()}
    try:
        made = run_side_by_side(chains | (beside or {}), session.log,
                                failure_log=cache_dir("logs") / "provision")
    except ProvisionError as error:
        session.error(str(error))
    if group is None:
        return None
    imported = ", ".join(GIL_CHECK_IMPORTS[session.name]) or "nothing"
    python = made["3.14t"]["session"]
    session.log(f"free-threaded, GIL disabled after importing {imported}: {python}")
    return python


def checked_session_env(session: nox.Session, group: str, log) -> Path:
    """:func:`session_env`, then the GIL check: still off after the session's imports, or the session ends."""
    python = session_env(session, group, log)
    check_python(python, GIL_CHECK_IMPORTS[session.name])
    return python


def chain_of(key: str, todo: dict) -> Callable:
    """One chain: the interpreter *key* first, then its environments side by side (pip mostly waits)."""

    def chain(log):
        if key in INTERPRETERS:
            find_or_build(key, log=log)
        if len(todo) == 1:
            return {name: step(log) for name, step in todo.items()}
        return run_side_by_side(todo, log, failure_log=cache_dir("logs") / "provision", advice=False)

    return chain


def prepare_chapters(session: nox.Session, kernel: Path) -> None:
    """What the chapters run besides their environments and sources, made before they run.

    The demo extension compiled for the kernel and, with -fsanitize=thread,
    for the TSAN interpreter: a no-op when already done. The book
    environments and the released sources come from :func:`provision`.
    """
    compile_demo_extension(session, kernel)
    compile_demo_extension(session, book_env_python("tsan"), "--sanitize", "thread")


def book_session(session: nox.Session) -> Path:
    """The kernel environment, every book environment, the sources and the chapters' extras."""
    python = provision(session, "book", [*BOOK_ENVS, SOURCES])
    prepare_chapters(session, python)
    return python


def book_built_ahead(session: nox.Session, phases: Phases) -> Path:
    """:func:`book_session`, with every chapter executed as soon as what it needs is ready.

    Provisioning, the demo extension and the chapters run side by side
    (ftbook.build.execute): a chapter that needs only the kernel and the
    sources runs while ThreadSanitizer builds of NumPy compile. Sphinx then
    finds every chapter's outputs in the execution cache.
    """
    phases.start("provisioning")

    def provisioned() -> None:
        phases.end("provisioning")
        session.log("==> provisioned: every interpreter, environment and source is ready")

    readiness = Readiness(on_provisioned=provisioned)

    def demo_extension(log) -> None:
        readiness.wait_for(lambda: readiness.state([KERNEL]) != "waiting")
        if readiness.state([KERNEL]) != "ready":
            return  # the 3.14t chain says why
        readiness.step(DEMO, compile_demo_extension)(session, readiness.result(KERNEL))
        readiness.wait_for(lambda: readiness.state(["tsan"]) != "waiting")
        if readiness.state(["tsan"]) == "ready":
            readiness.step(DEMO_TSAN, compile_demo_extension)(session, book_env_python("tsan"),
                                                               "--sanitize", "thread")

    def chapters(log) -> None:
        readiness.wait_for(lambda: readiness.state([KERNEL]) != "waiting")
        if readiness.state([KERNEL]) != "ready":
            return  # the 3.14t chain says why
        phases.start("chapters")
        seconds = execute_ahead(plan(ROOT / ".nox" / "ft-book"), readiness.result(KERNEL), readiness, log,
                                workers=jobs(), durations=last_durations())
        phases.end("chapters")
        record_durations(seconds)

    beside = {"demo extension": readiness.chain([DEMO, DEMO_TSAN], demo_extension, provisioning=False),
              "chapters": chapters}
    return provision(session, "book", [*BOOK_ENVS, SOURCES], readiness=readiness, beside=beside)


@nox.session
def chapter(session: nox.Session) -> None:
    """Execute one chapter as the build does, after provisioning only what that chapter declares.

    ``./nox -s chapter -- root-cause`` (a name as ``nox -s uses`` lists
    them, or a path; ``--show`` prints every cell's output). The chapter's
    examples and book environments are found as the build finds them
    (ftbook.build.inputs) and enforced while it runs; nothing else is
    provisioned, and nothing is written to docs/_build.
    """
    if not session.posargs or session.posargs[0].startswith("-"):
        session.error("name a chapter: ./nox -s chapter -- root-cause (./nox -s uses lists them)")
    name, *options = session.posargs
    try:
        path = find_chapter(name)
    except ValueError as error:
        session.error(str(error))
    inputs = chapter_inputs(path.read_text())
    needs = [*inputs.env_names, *([SOURCES] if inputs.needs_sources else [])]
    session.log(f"{name} needs: the book's 3.14t environment{''.join(', ' + need for need in needs)}")
    python = provision(session, "book", needs)
    if "metadata_demo.c" in inputs.examples:
        compile_demo_extension(session, python)
        if "tsan" in inputs.env_names:
            compile_demo_extension(session, book_env_python("tsan"), "--sanitize", "thread")
    session.run(str(python), "-m", "ftbook.tools.chapter", str(path), *options, external=True)


@nox.session
def uses(session: nox.Session) -> None:
    """What a chapter runs, or (given an example) which chapters and tests read it, and which summary keys.

    ``./nox -s uses`` lists every chapter; ``-- root-cause``; ``-- finalize_window.py``.
    Runs on the Python that runs nox: it reads files and executes nothing.
    """
    session.run(sys.executable, "-m", "ftbook.tools.uses", *session.posargs, external=True)


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


RERUN_ALL = "--rerun-all"


def sphinx_arguments(session: nox.Session) -> list[str]:
    """The session's arguments for Sphinx; ``--rerun-all`` among them empties the execution cache first.

    Call it with the build folder's lock held (:func:`build_folder`).
    """
    posargs = list(session.posargs)
    if RERUN_ALL in posargs:
        posargs.remove(RERUN_ALL)
        session.log(f"{RERUN_ALL}: emptying the execution cache; every chapter will be executed again")
        forget_executed()
        posargs = [*rerun_all(EXECUTION_CACHE), *posargs]
    return posargs


def build_folder(session: nox.Session):
    """The build folder and its execution cache have one owner at a time.

    A second build in this clone (docs beside serve, say) waits for the first.
    """
    return folder_lock(BUILD, session.log)


def sphinx(
    session: nox.Session, python: Path, builder: str, *extra: str, doctrees: Path = BUILD / "doctrees",
    posargs: list[str], executed_ahead: bool = False,
) -> None:
    """Run Sphinx (hold the build folder's lock); *executed_ahead*: every chapter must be in the cache."""
    warnings = BUILD / f"{builder}-warnings.log"
    try:
        session.run(
            str(python), "-m", "sphinx", "-b", builder,
            "-W", "--keep-going",  # warnings are errors, but report them all
            "-d", str(doctrees), "-w", str(warnings),
            str(DOCS), str(BUILD / builder), *extra, *posargs,
            external=True, env={EXECUTED_AHEAD: "1"} if executed_ahead else None,
        )
    except CommandFailed:
        # The failing cell's traceback is far up a long log; say it again last, in a few lines.
        text = warnings.read_text(encoding="utf-8", errors="replace") if warnings.is_file() else ""
        if failed := digest(text):
            session.log(f"what failed (all warnings: {warnings}):\n{failed}")
        raise


def build_html(session: nox.Session) -> Path:
    """Provision; execute the chapters side by side, each when its inputs are ready; then run Sphinx."""
    phases = Phases()
    phases.start("whole build")
    with build_folder(session):
        posargs = sphinx_arguments(session)
        python = book_built_ahead(session, phases)
        phases.start("sphinx")
        sphinx(session, python, "html", posargs=posargs, executed_ahead=True)
        phases.end("sphinx")
    phases.end("whole build")
    session.log("==> " + "\n    ".join(phases.report()))
    return python


@nox.session
def docs(session: nox.Session) -> None:
    """Build the HTML book into docs/_build/html, executing changed chapters."""
    build_html(session)
    session.log(f"open {BUILD / 'html' / 'index.html'}")


@nox.session
def serve(session: nox.Session) -> None:
    """Serve the book on localhost and rebuild it when a file changes."""
    python = book_session(session)
    session.run(
        str(python), "-m", "sphinx_autobuild", str(DOCS), str(BUILD / "html"),
        "-d", str(BUILD / "doctrees"), "--watch", str(ROOT / "examples"), "--watch", str(ROOT / "ftbook"),
        *session.posargs,
        external=True,
    )


@nox.session
def linkcheck(session: nox.Session) -> None:
    """Check every external link in the book (needs the network). Executes no chapter."""
    python = provision(session, "book")
    with build_folder(session):
        sphinx(session, python, "linkcheck",
               "-D", "nb_execution_mode=off",  # links are in the text; outputs are not needed
               doctrees=BUILD / "linkcheck-doctrees",  # not the html build's: those pages have outputs
               posargs=list(session.posargs))


@nox.session
def browser(session: nox.Session) -> None:
    """Build the book as `docs` does (quick when nothing changed), then check it in headless Chromium.

    Screenshots of every chapter go to docs/_build/screenshots.
    """
    python = build_html(session)
    session.run(str(python), "-m", "ftbook.tools.browser", str(BUILD / "html"),
                "--screenshots", str(BUILD / "screenshots"), external=True)


@nox.session
def examples(session: nox.Session) -> None:
    """Run every example on 3.14t, each bounded in time; fail if any fails."""
    python = provision(session, "examples")
    session.run(str(python), "-m", "ftbook.tools.examples_check", *session.posargs, external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff with the project's settings (pyproject.toml) on the code and on the chapters' code cells.

    Then the chapters are searched for code copied between them
    (ftbook.tools.lint_chapters); a finding names the chapter and line.
    """
    python = provision(session, "lint")
    ruff = str(python.parent / "ruff")
    session.run(ruff, "check", ".", *session.posargs, external=True)
    session.run(str(python), "-m", "ftbook.tools.lint_chapters", "--ruff", ruff, external=True)


@nox.session
def tests(session: nox.Session) -> None:
    """The pytest suite (provisioning, GIL check, examples, end-to-end book build).

    With no arguments every test runs, so every interpreter is provisioned
    (side by side), and the test files run in as many pytest processes at
    once as there are cores (``FTBOOK_JOBS``; ftbook.tools.tests_side_by_side).
    With pytest arguments (``-- -k gil``), one pytest runs them, and the
    selected tests are collected first: only the book environments they are
    marked as needing (``needs_envs``) are made, so a 3.14t-only selection
    never builds 3.13t or the TSAN interpreter.
    """
    if not session.posargs:
        python = book_session(session)
        # Independent test files in side-by-side pytest processes (ftbook.tools.tests_side_by_side).
        session.run(str(python), "-m", "ftbook.tools.tests_side_by_side", external=True)
        return
    python = provision(session, "book")
    needed = selected_tests_need(session, python)
    if set(needed) == set(BOOK_ENVS):
        session.log("the selected tests need every book environment (they build the book)")
        python = book_session(session)
    elif needed:
        session.log(f"the selected tests need the book environments {', '.join(needed)}")
        python = provision(session, "book", needed)
    session.run(str(python), "-m", "pytest", *session.posargs, external=True)


def selected_tests_need(session: nox.Session, python: Path) -> list[str]:
    """The book environments that the tests selected by the session's arguments are marked as needing."""
    collected = session.run(
        str(python), "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
        "--print-needed-envs", *session.posargs,
        external=True, silent=True,
    )
    for line in (collected or "").splitlines():
        if line.startswith(NEEDED_ENVS_PREFIX):
            return json.loads(line.removeprefix(NEEDED_ENVS_PREFIX))
    session.error("could not tell which environments the selected tests need "
                  "(no line from --print-needed-envs)")


@nox.session
def benchmark(session: nox.Session) -> None:
    """Time a newcomer's first build in a fresh clone with an empty cache; record it in docs/measurements.

    Runs the README's two commands, and the first again, one after the other (ftbook.tools.benchmark:
    most of an hour on two cores) on the committed HEAD; the measurements page reads the JSON it
    writes. ``-- --keep`` keeps the clone and its cache.
    """
    session.run(sys.executable, "-m", "ftbook.tools.benchmark", "--record", str(DOCS / "measurements"),
                *session.posargs, external=True)


@nox.session(name="under-load")
def under_load(session: nox.Session) -> None:
    """How often each timing-dependent claim's run misses its race with every core busy; record it.

    ftbook.tools.under_load: one busy process per core, then 20 runs of each race the claims must see
    under ThreadSanitizer (about 50 minutes on two cores), recorded in docs/measurements/under-load for
    the measurements page. ``-- --runs 5 --only nonzero`` for a quick look (add ``--record`` to keep it).
    """
    python = book_session(session)
    arguments = session.posargs or ["--record", str(DOCS / "measurements" / "under-load")]
    session.run(str(python), "-m", "ftbook.tools.under_load", *arguments, external=True)


@nox.session(name="provision")
def provision_session(session: nox.Session) -> None:
    """Prepare the named book environments (``sources``: the released sources); all of them by default."""
    unknown = sorted(set(session.posargs) - {*BOOK_ENVS, SOURCES})
    if unknown:
        session.error(f"unknown: {', '.join(unknown)}; choose from {', '.join([*BOOK_ENVS, SOURCES])}")
    provision(session, None, session.posargs or [*BOOK_ENVS, SOURCES])


@nox.session
def lock(session: nox.Session) -> None:
    """Refresh requirements/ from pyproject.toml and ftbook.provision.envs, on purpose; print what changed.

    ``-- --check`` writes nothing and fails if a lock would change. Runs on
    the Python that runs nox; uv comes from requirements/uv.txt.
    """
    tools = ensure_venv(ROOT / ".nox" / "lock-tools", Path(sys.executable), lock_path("uv"), log=session.log)
    session.run(sys.executable, "-m", "ftbook.provision.refresh_locks", "--uv", str(tools.parent / "uv"),
                *session.posargs, external=True)
