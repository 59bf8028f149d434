"""What the build asserts, each claim written once.

One module per chapter (or page of a part), named after it:
``ftbook.claims.root_cause`` holds what ``docs/chapters/root-cause.md``
asserts. Each claim is one function that takes the outcome(s) of a run and
raises ``AssertionError`` when the claim stops holding; its docstring names
the race it guards, in the manner of NumPy's test_multithreading.py.

Two callers, one claim:

- the chapter's removed cell, right after the cell that ran the example,
  calls it on the chapter's own outcomes (so the build fails if the page
  would say something false);
- ``tests/test_claims.py`` calls it on the runs in the module's
  ``TEST_RUNS`` (smaller ones, the same shape), so ``nox -s tests -- -k
  claims`` checks every claim in seconds to minutes, without building the book.

A claim module names no example in a docstring or comment it does not run:
the chapter that imports it depends on what it names (ftbook.build.inputs).
"""

import importlib
import pkgutil


def modules() -> list:
    """Every claim module (``ftbook.claims.<chapter>``), imported: for tests and ftbook.tools.under_load."""
    return [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)]
