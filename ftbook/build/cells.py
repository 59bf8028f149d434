"""The code cells of a MyST chapter, with where they start, without myst-nb.

Used by the tools that read chapters as code (lint, copies, what runs
where) on any Python, including the host's. Executing a chapter uses
myst-nb's own reader (:mod:`ftbook.tools.chapter`).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from ftbook.run import ROOT

DOCS = ROOT / "docs"
CHAPTERS = DOCS / "chapters"

_FENCE = re.compile(r"^(`{3,})\{code-cell\}[^\n]*\n", re.M)
_TAGS = re.compile(r"^:tags:\s*\[([^\]]*)\]\s*$")
HIDDEN_INPUT = {"remove-input", "remove-cell", "hide-input"}


@dataclasses.dataclass(frozen=True)
class Cell:
    chapter: Path
    line: int  # 1-based line in the chapter of the cell's first source line
    source: str
    tags: frozenset[str]

    @property
    def reader_sees_code(self) -> bool:
        """Is the code on the page as it stands (not removed, not collapsed)?"""
        return not self.tags & HIDDEN_INPUT

    @property
    def lines(self) -> int:
        """Lines of code, blank lines and comments included (what a reader reads)."""
        return len(self.source.rstrip("\n").splitlines())


def is_notebook(text: str) -> bool:
    return re.search(r"^file_format:\s*mystnb\s*$", text, re.M) is not None


def notebooks() -> list[Path]:
    """Every executable chapter of the book (a part's pages included)."""
    return sorted(path for path in DOCS.rglob("*.md")
                  if "_build" not in path.parts and is_notebook(path.read_text()))


def chapter_name(path: Path) -> str:
    """``root-cause``, ``family/restore``: how the tools and ``nox -s chapter`` name a chapter."""
    try:
        return path.relative_to(CHAPTERS).with_suffix("").as_posix()
    except ValueError:
        return path.relative_to(DOCS).with_suffix("").as_posix()


def find_chapter(name: str) -> Path:
    """The chapter called *name* (as :func:`chapter_name` spells it, or a path); ValueError if none."""
    for candidate in (Path(name), CHAPTERS / f"{name}.md", CHAPTERS / name / "index.md", DOCS / f"{name}.md"):
        if candidate.is_file() and is_notebook(candidate.read_text()):
            return candidate.resolve()
    known = ", ".join(chapter_name(path) for path in notebooks())
    raise ValueError(f"no chapter {name!r}; the chapters are: {known}")


def code_cells(chapter: Path) -> list[Cell]:
    text = chapter.read_text()
    cells = []
    for fence in _FENCE.finditer(text):
        body_start = fence.end()
        end = re.compile(rf"^{fence.group(1)}[ \t]*$", re.M).search(text, body_start)
        body = text[body_start:end.start() if end else len(text)]
        lines = body.splitlines(keepends=True)
        tags: set[str] = set()
        skip = 0
        for line in lines:  # the cell's options come first: ":tags: [...]", ":key: value"
            if not line.startswith(":"):
                break
            skip += 1
            if match := _TAGS.match(line.strip()):
                tags |= {t.strip().strip("'\"") for t in match.group(1).split(",") if t.strip()}
        first_line = text.count("\n", 0, body_start) + 1 + skip
        cells.append(Cell(chapter, first_line, "".join(lines[skip:]), frozenset(tags)))
    return cells
