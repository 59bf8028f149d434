"""What a chapter runs, and one digest of all of it.

myst-nb caches a chapter's outputs under a hash of its code cells. A chapter
also runs files that are not in its cells: the examples it calls, the demo
extension's C source they compile, the ``ftbook`` modules it imports, and
the interpreters and environments all of that runs on. This module finds
those inputs from the chapter's own text and digests them, so that the book
can re-execute a chapter exactly when one of them changes
(:mod:`ftbook.sphinxext` does that).

The inputs are derived, not listed by hand:

- **examples**: every file under ``examples/`` whose name, or the name of a
  folder it is in, appears in the chapter or in an ``ftbook`` module it
  imports; a chapter that uses the ``EXAMPLES`` folder as a whole (a glob,
  or the folder passed to a tool) depends on every example. Then, each
  example's own imports of sibling examples and the files it names, until
  nothing new is found.
- **ftbook modules**: ``ftbook.<name>`` and ``from ftbook import <name>`` in
  the chapter, and the same in each module found, transitively.
- **environments**: the kernel's own environment always; every book
  environment if anything reached calls ``book_env_python`` (a chapter may
  compute the name, so this errs on the side of re-running).

An environment counts by its stamp, which records the interpreter (and its
build time) and every installed distribution with its version: a rebuilt
interpreter or a different NumPy is a different result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from ftbook.envs import BOOK_ENVS, STAMP, book_env_dir

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FTBOOK = ROOT / "ftbook"

_FTBOOK_MODULE = re.compile(r"\bftbook\.(\w+)|\bfrom ftbook import ([\w, ()\n]+)")
_WHOLE_EXAMPLES_FOLDER = re.compile(r"\bEXAMPLES\b(?!\s*/\s*[\"'])")  # EXAMPLES.glob(...), run([..., EXAMPLES])
_SIBLING_IMPORT = re.compile(r"^\s*(?:import|from)\s+(\w+)", re.M)
_IGNORED_PARTS = {"__pycache__", "build", ".pytest_cache"}


@dataclasses.dataclass(frozen=True)
class Inputs:
    files: tuple[Path, ...]  # examples and ftbook modules, sorted
    envs: tuple[Path, ...]  # stamp files of the environments, sorted

    def digest(self) -> str:
        """SHA-256 over every input's path (relative to the repository) and content."""
        key = hashlib.sha256()
        for path in (*self.files, *self.envs):
            key.update(_display(path).encode() + b"\0")
            key.update(path.read_bytes() if path.exists() else b"(missing)")
            key.update(b"\0")
        return key.hexdigest()


def example_files() -> list[Path]:
    """Every file a reader would copy from ``examples/`` (not build products or caches)."""
    return sorted(
        path for path in EXAMPLES.rglob("*")
        if path.is_file() and not _IGNORED_PARTS.intersection(path.relative_to(EXAMPLES).parts)
        and path.suffix not in (".pyc", ".so")
    )


def chapter_inputs(text: str, *, kernel_prefix: Path | None = None) -> Inputs:
    """The inputs of a chapter whose source is *text*, run by a kernel in *kernel_prefix*."""
    modules = _ftbook_closure(text)
    reached = "\n".join([text, *(path.read_text() for path in modules)])
    examples = _example_closure(reached)
    envs = [Path(kernel_prefix or sys.prefix) / STAMP]
    if "book_env_python" in reached:
        envs += [book_env_dir(name) / STAMP for name in BOOK_ENVS]
    return Inputs(tuple(sorted(modules | examples)), tuple(sorted(envs)))


def _ftbook_closure(text: str) -> set[Path]:
    found: set[Path] = set()
    pending = [text]
    while pending:
        for match in _FTBOOK_MODULE.finditer(pending.pop()):
            names = [match.group(1)] if match.group(1) else re.findall(r"\w+", match.group(2))
            for name in names:
                path = FTBOOK / f"{name}.py"
                if path.is_file() and path not in found:
                    found.add(path)
                    pending.append(path.read_text())
    return found


def _example_closure(text: str) -> set[Path]:
    every = example_files()
    if _WHOLE_EXAMPLES_FOLDER.search(text):
        return set(every)
    found = {path for path in every if _named_in(path, text)}
    pending = list(found)
    while pending:
        source = pending.pop()
        if source.suffix != ".py":
            continue
        body = source.read_text()
        siblings = {f"{name}.py" for name in _SIBLING_IMPORT.findall(body)}
        for path in every:
            if path not in found and (path.name in siblings or _named_in(path, body, folders=False)):
                found.add(path)
                pending.append(path)
    return found


def _named_in(path: Path, text: str, *, folders: bool = True) -> bool:
    names = [path.name]
    if folders:
        names += list(path.relative_to(EXAMPLES).parts[:-1])
    return any(re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", text) for name in names)


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def describe(inputs: Inputs) -> Iterable[str]:
    """One line per input, relative to the repository where possible (for logs and tests)."""
    return [_display(path) for path in (*inputs.files, *inputs.envs)]
