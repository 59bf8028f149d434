"""Machinery shared by the book, its examples, its tests and its noxfile.

Everything here is standard library only, because the same code runs on the
host Python that drives nox (to find or build interpreters) and on the
free-threaded interpreters themselves (to run examples from chapters).

- :mod:`ftbook.cache`: where provisioned things live, and the lock that keeps
  two sessions from building the same thing at once.
- :mod:`ftbook.interpreters`: find or build the free-threaded CPythons.
- :mod:`ftbook.envs`: virtual environments on those interpreters.
- :mod:`ftbook.gil`: is the GIL really off?
- :mod:`ftbook.run`: run an example in a subprocess, bounded in time.
"""


class ProvisionError(Exception):
    """Something the book needs could not be found or made.

    The message is written for a person: what was tried, and what to do.
    Callers print it as it is, without a traceback.
    """
