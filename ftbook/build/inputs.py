"""What a chapter runs, and one digest of all of it.

myst-nb caches a chapter's outputs under a hash of its code cells. A chapter
also runs files that are not in its cells: the examples it calls, the demo
extension's C source they compile, the ``ftbook`` modules it imports, and
the interpreters and environments all of that runs on. This module finds
those inputs from the chapter's own text and digests them, so that the book
can re-execute a chapter exactly when one of them changes
(:mod:`ftbook.build.sphinxext` does that).

The inputs are derived, not listed by hand:

- **ftbook modules**: ``ftbook.<dotted.name>`` and ``from ftbook[.package]
  import <name>`` in the chapter (with the ``__init__`` of each package on
  the way), and the same in each module found, transitively.
- **examples**: every file under ``examples/`` whose name, or the name of a
  folder it is in, appears in the chapter; a chapter that uses the
  ``EXAMPLES`` folder as a whole (a glob, or the folder passed to a tool)
  depends on every example. Then, read as Python, the chapter's ``ftbook``
  modules and each example found: the sibling modules they import and the
  file names they use as string constants (``"metadata_demo.c"``), until
  nothing new is found. A name in a docstring or comment is not a use.
- **environments**: the kernel's own environment always, and each book
  environment the chapter names as a string (``env="numpy-2.2.2"``, or
  ``"numpy-2.2.2"`` in a table of runs), or its modules name as
  ``env="<name>"`` or ``book_env_python("<name>")``. A chapter or module
  that runs in every environment says so: ``USES_EVERY_BOOK_ENV = True``.

The lists are checked while the chapter runs: the extension passes them to
the kernel (``FTBOOK_DECLARED_*``), and ``run_example`` and
``book_env_python`` refuse anything not on them, so a chapter cannot run
something its key does not cover.

An environment counts by its stamp, which records the interpreter (and its
build time) and every installed distribution with its version: a rebuilt
interpreter or a different NumPy is a different result.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import os
import re
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

from ftbook import DECLARED_ENVS, DECLARED_EXAMPLES
from ftbook.provision.envs import BOOK_ENVS, STAMP, book_env_dir
from ftbook.run import EXAMPLES, ROOT

FTBOOK = ROOT / "ftbook"

# ftbook.provision.envs (in an import, a call or prose), or from ftbook[.package] import a, b
_FTBOOK_MODULE = re.compile(r"\bftbook((?:\.\w+)+)|\bfrom ftbook((?:\.\w+)*) import (\([\w,\s]+\)|[\w, ]+)")
# The folder as a whole: EXAMPLES.glob(...), or EXAMPLES passed on (run_command([..., EXAMPLES])).
_WHOLE_EXAMPLES_FOLDER = re.compile(r"\bEXAMPLES\s*(?:\.\s*(?:r?glob|iterdir)\b|[,)\]])")
_QUOTED = re.compile(r"[\"']([\w.-]+)[\"']")
_EVERY_ENV = re.compile(r"^USES_EVERY_BOOK_ENV = True\b", re.M)
_IGNORED_PARTS = {"__pycache__", "build", ".pytest_cache"}
# The kinds of file the examples are (a test checks that every example git tracks is one): a list of
# what to take, because what to leave out (backups, swap files, build products) has no end.
EXAMPLE_SUFFIXES = (".py", ".c", ".ini")
# Data a chapter reads, by the folder's name quoted in its code: every file in it is an input
# (the measurements page reads the benchmark's records and ftbook.tools.under_load's: a new record must show).
DATA_FOLDERS = {"measurements": ROOT / "docs" / "measurements",
                "under-load": ROOT / "docs" / "measurements" / "under-load"}


DIGEST_COMMENT = "# inputs digest (added by ftbook.build.sphinxext): "
_FIRST_CELL_END = re.compile(r"(^```\{code-cell\}[^\n]*\n.*?)(^```[ \t]*$)", re.M | re.S)


def with_digest(text: str, digest: str) -> str:
    """*text* with ``DIGEST_COMMENT + digest`` as the last line of its first code cell."""
    stamped, count = _FIRST_CELL_END.subn(lambda m: f"{m.group(1)}{DIGEST_COMMENT}{digest}\n{m.group(2)}",
                                          text, count=1)
    if count != 1:
        raise ValueError("the chapter has no code cell to key its execution by")
    return stamped


@dataclasses.dataclass(frozen=True)
class Inputs:
    files: tuple[Path, ...]  # examples, ftbook modules and data files, sorted
    envs: tuple[Path, ...]  # stamp files of the environments (the kernel's first), sorted
    env_names: tuple[str, ...] = ()  # the book environments among them
    scans_sdists: bool = False  # the chapter itself calls numpy_sdist()
    data_folders: tuple[Path, ...] = ()  # DATA_FOLDERS the chapter reads: a file added there is a change

    @property
    def needs_sources(self) -> bool:
        """Does the chapter quote or scan released sources (NumPy's sdists, CPython's tarballs)?"""
        return self.scans_sdists or any(path.name == "quote.py" for path in self.files)

    @property
    def examples(self) -> tuple[str, ...]:
        """The example files, relative to ``examples/`` (what ``run_example`` is given)."""
        return tuple(str(p.relative_to(EXAMPLES)) for p in self.files if p.is_relative_to(EXAMPLES))

    def declare(self) -> None:
        """Hand the lists to a kernel started after this (it inherits os.environ).

        ``run_example`` and ``book_env_python`` then refuse anything not on
        them (:func:`ftbook.check_declared`): the build and ``nox -s
        chapter`` both call this before a chapter executes.
        """
        os.environ[DECLARED_EXAMPLES] = os.pathsep.join(self.examples)
        os.environ[DECLARED_ENVS] = os.pathsep.join(self.env_names)

    def digest(self) -> str:
        """SHA-256 over every input's path (relative to the repository) and content."""
        key = hashlib.sha256()
        for path in (*self.files, *self.envs):
            key.update(_display(path).encode() + b"\0")
            key.update(path.read_bytes() if path.exists() else b"(missing)")
            key.update(b"\0")
        return key.hexdigest()


def example_files() -> list[Path]:
    """Every file a reader would copy from ``examples/``: its sources, by :data:`EXAMPLE_SUFFIXES`.

    Not build products or caches, and not what an editor leaves beside a file
    (``shape_watcher.py.bak``, ``~``, ``.swp``, ``.#`` locks): such a backup
    once became a page of the book and an input of the chapters that use the
    whole folder.
    """
    return sorted(
        path for path in EXAMPLES.rglob("*")
        if path.is_file() and path.suffix in EXAMPLE_SUFFIXES and not path.name.startswith(".")
        and not _IGNORED_PARTS.intersection(path.relative_to(EXAMPLES).parts)
    )


def chapter_inputs(text: str, *, kernel_prefix: Path | None = None) -> Inputs:
    """The inputs of a chapter whose source is *text*, run by a kernel in *kernel_prefix*."""
    modules = _ftbook_closure(text)
    module_texts = [path.read_text() for path in sorted(modules)]
    examples = _example_closure(text, module_texts)
    names = {name for name in _QUOTED.findall(text) if name in BOOK_ENVS}
    for body in module_texts:
        names |= _envs_run_by(body)
    if any(_EVERY_ENV.search(body) for body in [text, *module_texts]):
        names |= set(BOOK_ENVS)
    unknown = names - set(BOOK_ENVS)
    if unknown:
        raise ValueError(f"ftbook modules name unknown book environments: {', '.join(sorted(unknown))}")
    folders = tuple(folder for name, folder in DATA_FOLDERS.items() if f'"{name}"' in text)
    data = {path for folder in folders for path in folder.glob("*") if path.is_file()}
    kernel = Path(kernel_prefix or sys.prefix) / STAMP
    envs = [kernel, *(book_env_dir(name) / STAMP for name in sorted(names))]
    return Inputs(tuple(sorted(modules | examples | data)), tuple(envs), tuple(sorted(names)),
                  scans_sdists="numpy_sdist(" in text, data_folders=folders)


def _envs_run_by(source: str) -> set[str]:
    """The book environments a module's code names: ``env="<name>"`` or ``book_env_python("<name>")``.

    Read from the code, not the text: an example in a docstring is not a use.
    """
    return set(_read(source).envs)


@dataclasses.dataclass(frozen=True)
class _Uses:
    """What one Python source uses, read from its syntax tree once."""

    imports: frozenset[str]  # ``import a.b`` and ``from a.b import c``: "a.b", "a.b.c"
    envs: frozenset[str]  # env="<name>" and book_env_python("<name>")
    strings: frozenset[str]  # every string constant


@functools.lru_cache(maxsize=512)
def _read(source: str) -> _Uses:
    """Parse *source* once: the build reads the same ftbook modules for every chapter (33 times over)."""
    imports, envs, strings = set(), set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imports |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imports |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.add(node.value)
        elif isinstance(node, ast.Call):
            if getattr(node.func, "id", getattr(node.func, "attr", None)) == "book_env_python" and node.args:
                envs |= _string(node.args[0])
            for keyword in node.keywords:
                if keyword.arg == "env":
                    envs |= _string(keyword.value)
    return _Uses(frozenset(imports), frozenset(envs), frozenset(strings))


def _string(node: ast.expr) -> set[str]:
    return {node.value} if isinstance(node, ast.Constant) and isinstance(node.value, str) else set()


def _ftbook_closure(text: str) -> set[Path]:
    """The ftbook modules *text* names (any mention), and what those import, transitively.

    In the chapter any mention counts; in a module only its imports (a name
    in a docstring is not a use).
    """
    found: set[Path] = set()
    pending = [_named_modules(text)]
    while pending:
        for dotted in pending.pop():
            for path in _module_files(dotted.split(".")[1:]):
                if path not in found:
                    found.add(path)
                    pending.append(_imported_modules(path.read_text()))
    return found


def _named_modules(text: str) -> set[str]:
    names = set()
    for match in _FTBOOK_MODULE.finditer(text):
        if match.group(1):
            names.add("ftbook" + match.group(1))
        else:  # from ftbook.provision import envs, sources: modules or names in one
            package = "ftbook" + (match.group(2) or "")
            names |= {package, *(f"{package}.{name}" for name in re.findall(r"\w+", match.group(3)))}
    return names


def _imported_modules(source: str) -> set[str]:
    return {name for name in _read(source).imports if name == "ftbook" or name.startswith("ftbook.")}


def _module_files(parts: list[str]) -> list[Path]:
    """The files Python runs to import ``ftbook.<parts>``: each package's ``__init__`` and the module.

    A dotted name may go on past the module (``ftbook.run.run_example``):
    the longest prefix that is a module or a package counts.
    """
    for length in range(len(parts), -1, -1):
        base = FTBOOK.joinpath(*parts[:length])
        target = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if target.is_file():
            packages = [FTBOOK.joinpath(*parts[:i]) / "__init__.py" for i in range(length)]
            return [*packages, target]
    return []


def _example_closure(chapter: str, module_texts: list[str]) -> set[Path]:
    every = example_files()
    code = re.sub(r"^\s*(?:from|import)\s.*$", "", chapter, flags=re.M)  # importing the name is no use
    if _WHOLE_EXAMPLES_FOLDER.search(code):
        return set(every)
    found = {path for path in every if _named_in(path, chapter)}
    for body in module_texts:  # what the chapter's ftbook modules run or import from examples/
        found |= _used_by(body, every)
    pending = list(found)
    while pending:
        source = pending.pop()
        if source.suffix == ".py":
            new = _used_by(source.read_text(), every) - found
            found |= new
            pending += new
    return found


def _used_by(source: str, every: list[Path]) -> set[Path]:
    """The example files a Python source imports as sibling modules or uses as string constants."""
    uses = _read(source)
    # A sibling module imported (relative imports are not how examples import each other), or a file named.
    used = {f"{name}.py" for name in uses.imports} | uses.strings
    return {path for path in every if path.name in used or str(path.relative_to(EXAMPLES)) in used}


def _named_in(path: Path, text: str) -> bool:
    """Is *path* (or a folder it is in) named in *text*?

    Bare or as ``examples/...``, but not as a file of another folder (``tests/conftest.py``).
    """
    relative = path.relative_to(EXAMPLES)
    names = [relative.as_posix(), path.name, *relative.parts[:-1]]
    # The substring test first: the pattern is slow on a long chapter, and most names are not in it.
    return any(name in text and re.search(rf"(?:(?<![\w./-])|(?<=examples/)){re.escape(name)}(?![\w-])", text)
               for name in names)


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def describe(inputs: Inputs) -> Iterable[str]:
    """One line per input, relative to the repository where possible (for logs and tests)."""
    return [_display(path) for path in (*inputs.files, *inputs.envs)]


def rerun_all(cache: Path) -> list[str]:
    """Make the next build execute every chapter again; return the Sphinx options it needs.

    It takes both halves: an empty execution cache (or myst-nb would serve
    the old outputs again) and ``-E``, a fresh environment (or Sphinx would
    not read unchanged chapters at all, and myst-nb would never be asked).
    """
    shutil.rmtree(cache, ignore_errors=True)
    return ["-E"]
