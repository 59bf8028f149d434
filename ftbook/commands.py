"""The commands a reader types to run what a chapter ran, made from what it ran.

A chapter never writes a command by hand: :func:`commands_box` takes the
outcomes of :func:`ftbook.run.run_example` (or their :class:`ExampleRun`
requests) and renders each one's :func:`reader_command`, so the box cannot
drift from the run.

What the build adds to a reader's command (its cache's paths, its own
wrapper's options, provisioning flags) is shown once, folded away:
:func:`evidence` renders a collapsed dropdown titled "The build's evidence:
...", and :func:`console` the console blocks inside it and on the page.
:func:`pytest_lines` turns a ``pytest_runs.py --copy-test`` request into the
plain ``pytest`` lines a reader types.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ftbook.provision.cache import cache_dir
from ftbook.provision.envs import BOOK_ENVS
from ftbook.provision.instrumented import MESON_ARGS, PATCH_COMMAND, PATCHED, release_of
from ftbook.provision.sources import CURRENT_NUMPY
from ftbook.run import ROOT

if TYPE_CHECKING:
    from ftbook.run import ExampleRun, Outcome

TSAN_ENV = "tsan"  # uv has no ThreadSanitizer build of CPython: the reader brings one
TSAN_INTERPRETER_NOTE = "# python: a CPython built --disable-gil --with-thread-sanitizer"
TSAN_NOTE = f"{TSAN_INTERPRETER_NOTE}, with NumPy installed"
_SETUP_ARGS = " ".join(f"-Csetup-args={arg}" for arg in MESON_ARGS)
# The build of an unpacked sdist numpy-{version}/, as ftbook.provision.instrumented builds it.
_WHEEL = f"CC=gcc pip wheel --no-build-isolation {_SETUP_ARGS} numpy-{{version}}/"
SANITIZED_NOTE = ("# python: that CPython, with NumPy {version} built from its sdist by a plain 3.14t: "
                  + _WHEEL)
# The same build of a release with this repository's patches to it, applied as instrumented.py does.
_PATCH = " ".join(PATCH_COMMAND[:3])  # patch -p1 --fuzz=0
_APPLY = f'for p in patches/numpy-{{version}}/*.patch; do {_PATCH} -d numpy-{{version}} < "$p" || break; done'
PATCHED_NOTE = (f"# python: that CPython, with NumPy {{version}} patched ({_APPLY}) "
                "and built by a plain 3.14t: " + _WHEEL)


def patched_build_lines(release: str) -> list[str]:
    """What a reader types, in their checkout beside the unpacked sdist, to build *release* with the patches.

    The patches go in as ``ftbook.provision.instrumented`` applies them
    (name order, ``-p1``, no fuzz); then the build of :data:`SANITIZED_NOTE`.
    """
    return [_APPLY.format(version=release), _WHEEL.format(version=release)]
# A run that reads a released source names it inside this build's cache; the reader's copy is an
# unpacked sdist in the current folder (numpy-2.2.3/...), which the box says how to get.
SOURCES_NOTE = ("# numpy-X.Y.Z/: the NumPy X.Y.Z sdist (https://pypi.org/project/numpy/X.Y.Z/#files), "
                "unpacked here")


def _as_reader_path(text: str) -> str:
    """A path into the build's unpacked sources, as the reader's own unpacked copy would be named.

    The reader patches their own copy in place (PATCHED_NOTE): the build's
    patched folder, ``numpy-2.5.5-patched-<digest>``, is their ``numpy-2.5.5``.
    """
    text = text.replace(str(cache_dir("sources")) + "/", "")
    return re.sub(rf"\bnumpy-(\d+\.\d+\.\d+){re.escape(PATCHED)}-[0-9a-f]{{12}}/", r"numpy-\1/", text)


def reader_command(request: ExampleRun, renames: Mapping[str, str] | None = None) -> str:
    """The command a reader types to run *request* as the chapter ran it, with uv.

    On a book environment uv runs ``python script`` with that environment's
    release pinned (without one: 3.14t with today's NumPy, as the book's lock
    pins it), so that the script's own unpinned ``numpy`` requirement (PEP
    723) pulls in neither a newer release nor one with no wheel for that
    interpreter. ``PYTHON_GIL=0`` is the default of a free-threaded build
    and is left out; every other variable is written in front. *renames*
    replace a path of the build's (a temporary folder's file) with the
    reader's name for it.
    """
    command = _reader_command(request)
    for old, new in (renames or {}).items():
        command = command.replace(old, new)
    return command


def _reader_command(request: ExampleRun) -> str:
    variables = dict(request.variables)
    if request.gil:
        variables = {"PYTHON_GIL": "1", **variables}
    prefix = "".join(f"{key}={shlex.quote(_as_reader_path(value))} " for key, value in variables.items())
    args = [shlex.quote(_as_reader_path(arg)) for arg in request.args]
    script = " ".join(["examples/" + request.example, *args])
    if request.env == TSAN_ENV or _sanitized_numpy(request):  # TSAN_OPTIONS is among the variables
        return f"{prefix}python {script}"
    if request.env is None:
        return f"{prefix}uv run --python 3.14t --with numpy=={CURRENT_NUMPY} python {script}"
    spec = BOOK_ENVS[request.env]
    pins = " ".join(f"--with {requirement}" for requirement in spec.requirements)
    return f"{prefix}uv run --python {spec.interpreter} {pins} python {script}"


def _sanitized_numpy(request) -> str | None:
    """The NumPy release built with ThreadSanitizer that *request*'s environment has, if any."""
    return BOOK_ENVS[request.env].sanitized_numpy if request.env else None


def commands_text(*runs: Outcome | ExampleRun, renames: Mapping[str, str] | None = None) -> str:
    """The reader's commands for *runs*, as the Markdown of a console block (see :func:`commands_box`)."""
    requests = [getattr(run, "request", run) for run in runs]
    if None in requests:
        raise ValueError("commands_box takes the outcomes of run_example, not of a bare command")
    commands = list(dict.fromkeys(reader_command(request, renames) for request in requests))
    sanitized = sorted({_sanitized_numpy(request) for request in requests} - {None})
    notes = []
    if any(request.reads_released_sources for request in requests):
        notes.append(SOURCES_NOTE)
    if sanitized or any(request.env == TSAN_ENV for request in requests):
        notes.append(TSAN_INTERPRETER_NOTE if sanitized else TSAN_NOTE)
    notes += [(PATCHED_NOTE if version.endswith(PATCHED) else SANITIZED_NOTE).format(
        version=release_of(version)) for version in sanitized]
    return console(*notes, *commands)


def commands_box(*runs: Outcome | ExampleRun, renames: Mapping[str, str] | None = None):
    """The reader's commands for *runs*, in a console block (the copy button skips the prompts).

    *runs* are outcomes (anything with the ``request`` it ran) or requests.
    Repeated commands (attempts of one run) are shown once. *renames*: as
    :func:`reader_command`'s.
    """
    from IPython.display import Markdown

    return Markdown(commands_text(*runs, renames=renames))


def console(*steps: str | tuple[str, str]) -> str:
    """The Markdown of a console block: each step a command, a ``#`` comment, or (command, what it printed).

    A command gets the ``$`` prompt, which the copy button leaves out, as it
    leaves out what a command printed.
    """
    lines = []
    for step in steps:
        command, printed = (step, "") if isinstance(step, str) else step
        lines.append(command if command.startswith("#") else f"$ {command}")
        lines += printed.rstrip("\n").splitlines()
    return fenced(lines)


def fenced(lines: Sequence[str], language: str = "console", shortest: int = 3) -> str:
    """*lines* in a code fence longer than any run of backticks inside them."""
    longest = max((len(run) for line in lines for run in re.findall(r"`{3,}", line)), default=0)
    fence = "`" * max(shortest, longest + 1)
    return "\n".join([f"{fence}{language}", *lines, fence])


EVIDENCE = "The build's evidence: "


def evidence(title: str, *parts: str):
    """A collapsed dropdown titled "The build's evidence: *title*", holding the Markdown *parts*.

    For what the build ran or checked beyond what a reader types: the exact
    command with its additions, the cache's records, the SHA-256 it
    checked. The page shows the reader's form; this keeps the rest one
    click away, and out of the page's word count.
    """
    from IPython.display import Markdown

    body = "\n\n".join(parts)
    return Markdown(fenced([body], f"{{dropdown}} {EVIDENCE}{title}", shortest=4))


COPY_FOLDER = "tsan-run"  # where a reader's copy of a released test file goes


def pytest_lines(request: ExampleRun, options: Mapping[str, str] | None = None) -> list[str]:
    """The plain commands a reader types for a ``pytest_runs.py [--copy-test FILE] -- ARGS`` request.

    ``pytest_runs.py`` is the book's wrapper (one process per run, each
    bounded in time and its end counted); a reader runs pytest itself. With
    ``--copy-test``, the test file is first copied out of the unpacked sdist
    into a folder of its own (inside the source tree, pytest would load the
    sdist's ``conftest.py`` and import its uninstalled ``numpy``). Paths into
    the build's sources become the reader's unpacked sdist, and paths into
    the repository become relative to it, as the reader's checkout is.
    *options*, if given, are ``TSAN_OPTIONS``: the options the chapter
    chose, not the defaults :func:`ftbook.tsan.tsan_request` adds to them
    (the evidence shows those).
    """
    if Path(request.example).stem != "pytest_runs":  # not the file name: a chapter using this does not run it
        raise ValueError(f"pytest_lines takes a request of the pytest_runs example, not {request.example}")
    split = request.args.index("--") if "--" in request.args else len(request.args)
    ours, pytest_args = request.args[:split], request.args[split + 1:]
    lines = []
    test_files = [_as_reader_path(ours[i + 1]) for i, option in enumerate(ours) if option == "--copy-test"]
    copied = [test_file.rsplit("/", 1)[-1] for test_file in test_files]
    if test_files:
        lines.append(f"mkdir -p {COPY_FOLDER} && cp {shlex.join(test_files)} {COPY_FOLDER}/")
    arguments = [f"{COPY_FOLDER}/{argument}" if argument.split("::")[0] in copied
                 else _in_checkout(_as_reader_path(argument)) for argument in pytest_args]
    if not any(argument.split("::")[0] in copied for argument in pytest_args):  # as pytest_runs.py does
        arguments = [f"{COPY_FOLDER}/{name}" for name in copied] + arguments
    tsan = " ".join(f"{key}={_as_reader_path(value)}" for key, value in (options or {}).items())
    prefix = f"TSAN_OPTIONS={shlex.quote(tsan)} " if tsan else ""
    return [*lines, f"{prefix}python -m pytest {shlex.join(arguments)}"]


def _in_checkout(text: str) -> str:
    """A path into this repository, as the reader's own checkout names it (``examples/...``)."""
    return text.replace(str(ROOT) + "/", "")
