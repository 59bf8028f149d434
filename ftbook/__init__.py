"""Machinery shared by the book, its examples' tests and its noxfile, laid out by who calls it.

What chapters call (at the top, so that a chapter's imports stay short):

- :mod:`ftbook.run`: run an example in a subprocess, bounded in time; the
  :class:`~ftbook.run.Outcome` knows what was asked and checks the summary.
- :mod:`ftbook.commands`: the reader's command for each outcome, in a box.
- :mod:`ftbook.recipes`: the recipe pages' commands (configure lines, NumPy's
  TSAN build and job) and what the build adds to them.
- :mod:`ftbook.claims`: what the build asserts, one function per claim,
  shared with ``tests/test_claims.py``.
- :mod:`ftbook.quote`: functions and lines cut from NumPy's released sdists
  and CPython's release tarballs.
- :mod:`ftbook.levels`: NumPy's metadata API in CPython's thread-safety
  levels, placed from the sources.
- :mod:`ftbook.ownership`: every write of an array's or a dtype's field in
  today's sdist, each judged (the ownership map).
- :mod:`ftbook.checker_corpus`: the family's cases, before and after each
  fix, that the checker is scored on.
- :mod:`ftbook.tsan`: ThreadSanitizer runs and their reports, parsed.
- :mod:`ftbook.tables`: tables and timelines from outcomes.
- :mod:`ftbook.upstream`: the issue and pull-request texts that would send a patch upstream.
- :mod:`ftbook.kernel`: the first cell of every chapter (is the GIL off?).
- :mod:`ftbook.demo`, :mod:`ftbook.about`: the demo extension in the kernel;
  what each book environment is.
- :mod:`ftbook.gil`: is the GIL really off, here or in another interpreter?

Provisioning, :mod:`ftbook.provision` (runs on the host Python that drives
nox too, so standard library only): ``interpreters`` (find or build the
free-threaded CPythons), ``envs`` (the book environments), ``sources``
(NumPy's sdists, CPython's release trees), ``instrumented`` (NumPy built with
ThreadSanitizer from its sdist), ``cache`` (where things live, locks, verified downloads),
``locks`` and ``refresh_locks`` (the hashed requirements), ``side_by_side``
(chains of steps run in parallel, one message per failure).

The build, :mod:`ftbook.build`: ``inputs`` (what a chapter runs, and its
cache key), ``execute`` (the chapters executed side by side before Sphinx
reads them, each when what it needs is ready), ``phases`` (each phase's wall
time, CPU time and busy cores, the build's last lines), ``sphinxext`` (the
Sphinx extension), ``cells`` (a chapter's code
cells, read without myst-nb), ``failures`` (what failed in a build, from
Sphinx's warnings log: the digest nox prints), ``reader_view`` (no visible
cell runs the book's own machinery).

Tools, :mod:`ftbook.tools`: ``chapter`` (execute one chapter), ``uses`` (what
runs what), ``lint_chapters``, ``browser`` (the headless-browser check),
``words`` (the words each page shows, against its part's budget),
``benchmark`` (a newcomer's first build, timed, for the measurements page),
``under_load`` (how often each race the claims need is missed with every core busy),
``tests_side_by_side`` (the test files in pytest processes side by side, ``nox -s tests``),
``examples_check`` (``nox -s examples``). ``python -m ftbook`` finds or builds
an interpreter or a book environment.
"""

import os

# While the book executes a chapter, these hold what the chapter's cache key
# covers (set by ftbook.build.sphinxext, os.pathsep-separated). Unset outside a
# book build: then nothing is checked.
DECLARED_EXAMPLES = "FTBOOK_DECLARED_EXAMPLES"
DECLARED_ENVS = "FTBOOK_DECLARED_ENVS"


def check_declared(variable: str, name: str) -> None:
    """Refuse *name* if a chapter is executing and its key does not cover it."""
    declared = os.environ.get(variable)
    if declared is not None and name not in declared.split(os.pathsep):
        raise UndeclaredInput(
            f"this chapter runs {name!r}, which ftbook.build.inputs did not find in it "
            f"(found: {declared or 'none'}); "
            "name it literally in the chapter so that its outputs are re-executed when it changes"
        )


class ProvisionError(Exception):
    """Something the book needs could not be found or made.

    The message is written for a person: what was tried, and what to do.
    Callers print it as it is, without a traceback.
    """


class UndeclaredInput(RuntimeError):
    """A chapter ran something its execution cache key does not cover (see ftbook.build.inputs)."""
