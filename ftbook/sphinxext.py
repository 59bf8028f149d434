"""Sphinx extension: re-execute a chapter when anything it runs changes.

myst-nb's execution cache is keyed by a chapter's code cells only, and
Sphinx re-reads a chapter only when its own file changes. So an edited
example left the chapters that run it showing the old example's outputs.
For each executable chapter, on reading it, this extension

1. tells Sphinx which files the chapter depends on (``note_dependency``),
   so that a change to any of them makes Sphinx read the chapter again;
2. writes the digest of all its inputs (:mod:`ftbook.inputs`) as a comment
   into the chapter's first code cell, so that the cell's source -- and with
   it myst-nb's cache key -- changes exactly when an input does; and
3. hands the kernel the lists of examples and environments the digest
   covers, so that running anything else fails the chapter instead of
   escaping the key.

The first cell of every chapter is the hidden ``check_kernel()`` cell (a
test enforces that), so the comment is never on the page.
"""

from __future__ import annotations

import os
import re

from sphinx.application import Sphinx

from ftbook import DECLARED_ENVS, DECLARED_EXAMPLES
from ftbook.inputs import chapter_inputs

DIGEST_COMMENT = "# inputs digest (added by ftbook.sphinxext): "
_FIRST_CELL_END = re.compile(r"(^```\{code-cell\}[^\n]*\n.*?)(^```[ \t]*$)", re.M | re.S)


def is_notebook(text: str) -> bool:
    return re.search(r"^file_format:\s*mystnb\s*$", text, re.M) is not None


def with_digest(text: str, digest: str) -> str:
    """*text* with ``DIGEST_COMMENT + digest`` as the last line of its first code cell."""
    stamped, count = _FIRST_CELL_END.subn(lambda m: f"{m.group(1)}{DIGEST_COMMENT}{digest}\n{m.group(2)}",
                                          text, count=1)
    if count != 1:
        raise ValueError("the chapter has no code cell to key its execution by")
    return stamped


def _key_execution_to_inputs(app: Sphinx, docname: str, source: list[str]) -> None:
    if not is_notebook(source[0]):
        return
    inputs = chapter_inputs(source[0])
    for path in (*inputs.files, *inputs.envs):
        if path.exists():  # Sphinx treats a missing dependency as changed: every build would re-read
            app.env.note_dependency(str(path))
    source[0] = with_digest(source[0], inputs.digest())
    # The chapter's kernel starts after this (myst-nb executes while parsing)
    # and inherits these: run_example and book_env_python check them.
    os.environ[DECLARED_EXAMPLES] = os.pathsep.join(inputs.examples)
    os.environ[DECLARED_ENVS] = os.pathsep.join(inputs.env_names)


def setup(app: Sphinx) -> dict:
    app.connect("source-read", _key_execution_to_inputs)
    # Not parallel-read safe: the declared lists reach the kernel through os.environ.
    return {"parallel_read_safe": False, "parallel_write_safe": True}
