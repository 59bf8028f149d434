"""Lint the chapters' code cells as the rest of the code is linted, and look for code copied between them.

    python -m ftbook.tools.lint_chapters --ruff .nox/ft-lint/bin/ruff   # what ./nox -s lint runs

ruff does not read MyST code cells, so each chapter's cells are written,
in order, to one Python file under ``.nox/chapter-lint/`` and checked with
the project's ruff settings (pyproject.toml). A finding is reported at its
chapter and line. Two rules are left out because a notebook is not a
module: E402 (a later cell imports what it needs) and B018 (a cell's last
expression is its output).

Copies: any run of :data:`WINDOW` consecutive code lines (blank lines and
comments aside, whitespace normalised) that appears in two places, in one
chapter or two, is reported with both places. Shared code belongs in
``ftbook``, once.

And a visible cell that runs the book's own machinery, which the Sphinx
build refuses (:mod:`ftbook.build.reader_view`), is reported here first.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from ftbook.build.cells import Cell, code_cells, notebooks
from ftbook.build.reader_view import machinery_in_view
from ftbook.run import ROOT

NOTEBOOK_RULES_OFF = ("E402", "B018")
WINDOW = 5  # lines: below this, a shared import block or a two-line glue() is not a copy worth a helper
WORK = ROOT / ".nox" / "chapter-lint"


@dataclasses.dataclass(frozen=True)
class Place:
    chapter: Path
    line: int

    def __str__(self) -> str:
        return f"{_relative(self.chapter)}:{self.line}"


def _relative(path: Path) -> Path:
    """*path* relative to the repository (a chapter outside it, in a test, by its name)."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else Path(path.name)


def extract(chapter: Path, folder: Path) -> tuple[Path, list[Place]]:
    """Write *chapter*'s code cells to one file; return it and, per line of it, the chapter line."""
    target = folder / _relative(chapter).with_suffix(".py")
    target.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    places: list[Place] = []
    for cell in code_cells(chapter):
        if lines:
            lines += ["", ""]  # two blank lines between cells, as between top-level definitions
            places += [Place(chapter, cell.line)] * 2
        for offset, line in enumerate(cell.source.rstrip("\n").splitlines()):
            lines.append(line)
            places.append(Place(chapter, cell.line + offset))
    target.write_text("\n".join(lines) + "\n")
    return target, places


def ruff_findings(ruff: str, chapters: list[Path]) -> list[str]:
    extracted = {}
    for chapter in chapters:
        target, places = extract(chapter, WORK)
        extracted[str(target.resolve())] = places
    done = subprocess.run(
        [ruff, "check", "--output-format", "json", "--extend-ignore", ",".join(NOTEBOOK_RULES_OFF),
         "--no-cache", *extracted],
        capture_output=True, text=True, cwd=ROOT,
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"error: ruff failed ({done.returncode}): {done.stderr.strip()}")
    findings = []
    for item in json.loads(done.stdout or "[]"):
        places = extracted[str(Path(item["filename"]).resolve())]
        row = item["location"]["row"]
        place = places[min(row, len(places)) - 1]
        findings.append(f"{place}: {item['code']} {item['message']}")
    return findings


def _normalised(cell: Cell) -> list[tuple[str, int]]:
    kept = []
    for offset, line in enumerate(cell.source.splitlines()):
        text = re.sub(r"\s+", " ", line.split("  #", 1)[0]).strip()
        if text and not text.startswith("#"):
            kept.append((text, cell.line + offset))
    return kept


def copies(chapters: list[Path], window: int = WINDOW) -> list[str]:
    """Runs of *window* code lines found in more than one place."""
    seen: dict[tuple[str, ...], list[Place]] = defaultdict(list)
    for chapter in chapters:
        for cell in code_cells(chapter):
            lines = _normalised(cell)
            for start in range(len(lines) - window + 1):
                key = tuple(text for text, _ in lines[start:start + window])
                seen[key].append(Place(chapter, lines[start][1]))
    reports, reported = [], set()
    for key, places in seen.items():
        if len(places) > 1 and places[0] not in reported:
            reported.update(places)
            reports.append(f"{places[0]}: the same {window} lines as " + ", ".join(map(str, places[1:]))
                           + f" (starting `{key[0][:60]}`)")
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftbook.tools.lint_chapters",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--ruff", default="ruff", help="the ruff to run (default: ruff on PATH)")
    args = parser.parse_args(argv)
    chapters = notebooks()
    findings = ruff_findings(args.ruff, chapters)
    copied = copies(chapters)
    # What the Sphinx build refuses (ftbook.build.reader_view), found here in a second, not after the build.
    shown = [f"{chapter.relative_to(ROOT)}:{line}: a visible cell {offence}"
             for chapter in chapters for line, offence in machinery_in_view(chapter)]
    for line in [*findings, *copied, *shown]:
        print(line)
    cells = sum(len(code_cells(chapter)) for chapter in chapters)
    print(f"chapter code: {len(chapters)} chapters, {cells} cells: {len(findings)} ruff findings, "
          f"{len(copied)} copied runs of {WINDOW} lines, {len(shown)} visible cells running the machinery")
    return 1 if findings or copied or shown else 0


if __name__ == "__main__":
    sys.exit(main())
