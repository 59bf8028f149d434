"""Machinery shared by the book, its examples, its tests and its noxfile.

Everything here is standard library only, because the same code runs on the
host Python that drives nox (to find or build interpreters) and on the
free-threaded interpreters themselves (to run examples from chapters).

- :mod:`ftbook.provision.cache`: where provisioned things live, and the lock that keeps
  two sessions from building the same thing at once.
- :mod:`ftbook.provision.interpreters`: find or build the free-threaded CPythons.
- :mod:`ftbook.provision.envs`: virtual environments on those interpreters.
- :mod:`ftbook.gil`: is the GIL really off?
- :mod:`ftbook.run`: run an example in a subprocess, bounded in time.
- :mod:`ftbook.build.inputs`, :mod:`ftbook.build.sphinxext`: what a chapter runs, and
  re-executing it when that changes.
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
