"""The commands a reader types to run what a chapter ran, made from what it ran.

A chapter never writes a command by hand: :func:`commands_box` takes the
outcomes of :func:`ftbook.run.run_example` (or their :class:`ExampleRun`
requests) and renders each one's :func:`reader_command`, so the box cannot
drift from the run.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from ftbook.provision.cache import cache_dir
from ftbook.provision.envs import BOOK_ENVS
from ftbook.provision.instrumented import MESON_ARGS
from ftbook.provision.sources import CURRENT_NUMPY

if TYPE_CHECKING:
    from ftbook.run import ExampleRun, Outcome

TSAN_ENV = "tsan"  # uv has no ThreadSanitizer build of CPython: the reader brings one
TSAN_INTERPRETER_NOTE = "# python: a CPython built --disable-gil --with-thread-sanitizer"
TSAN_NOTE = f"{TSAN_INTERPRETER_NOTE}, with NumPy installed"
_SETUP_ARGS = " ".join(f"-Csetup-args={arg}" for arg in MESON_ARGS)
SANITIZED_NOTE = ("# python: that CPython, with NumPy {version} built from its sdist by a plain 3.14t: "
                  f"CC=gcc pip wheel --no-build-isolation {_SETUP_ARGS} numpy-{{version}}/")
# A run that reads a released source names it inside this build's cache; the reader's copy is an
# unpacked sdist in the current folder (numpy-2.2.3/...), which the box says how to get.
SOURCES_NOTE = ("# numpy-X.Y.Z/: the NumPy X.Y.Z sdist (https://pypi.org/project/numpy/X.Y.Z/#files), "
                "unpacked here")


def _as_reader_path(text: str) -> str:
    """A path into the build's unpacked sources, as the reader's own unpacked copy would be named."""
    return text.replace(str(cache_dir("sources")) + "/", "")


def reader_command(request: ExampleRun) -> str:
    """The command a reader types to run *request* as the chapter ran it, with uv.

    On a book environment uv runs ``python script`` with that environment's
    release pinned (without one: 3.14t with today's NumPy, as the book's lock
    pins it), so that the script's own unpinned ``numpy`` requirement (PEP
    723) pulls in neither a newer release nor one with no wheel for that
    interpreter. ``PYTHON_GIL=0`` is the default of a free-threaded build
    and is left out; every other variable is written in front.
    """
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


def commands_box(*runs: Outcome | ExampleRun):
    """The reader's commands for *runs*, in a console block (the copy button skips the prompts).

    *runs* are outcomes (anything with the ``request`` it ran) or requests.
    Repeated commands (attempts of one run) are shown once.
    """
    from IPython.display import Markdown

    requests = [getattr(run, "request", run) for run in runs]
    if None in requests:
        raise ValueError("commands_box takes the outcomes of run_example, not of a bare command")
    commands = list(dict.fromkeys(request.reader_command() for request in requests))
    sanitized = sorted({_sanitized_numpy(request) for request in requests} - {None})
    notes = []
    if any(request.reads_released_sources for request in requests):
        notes.append(SOURCES_NOTE)
    if sanitized or any(request.env == TSAN_ENV for request in requests):
        notes.append(TSAN_INTERPRETER_NOTE if sanitized else TSAN_NOTE)
    notes += [SANITIZED_NOTE.format(version=version) for version in sanitized]
    commands = notes + commands
    lines = [command if command.startswith("#") else f"$ {command}" for command in commands]
    return Markdown("```console\n" + "\n".join(lines) + "\n```")
