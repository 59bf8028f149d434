"""What a failed book build prints last: each failed chapter, its cell and its error, in a few lines.

myst-nb prints a failing chapter's traceback where the chapter ran, in the
middle of a long log, and Sphinx then ends with its own traceback, which
names only the chapter. A CI log that keeps a long log's head and tail
loses the one part that says what failed. Sphinx also writes every warning
to the file given with ``-w``; :func:`digest` reads that file back, and the
docs session prints the digest after a failed build.

    python -m ftbook.build.failures docs/_build/html-warnings.log
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ftbook.tables import counted

FAILED = "Executing notebook failed"  # myst-nb's warning for a chapter whose cell raised or timed out
_WARNING = re.compile(r"^(?P<where>\S[^\n]*?): (?:WARNING|ERROR): ")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_END = re.compile(r"\s*\[mystnb\.\w+\](?: \[mystnb\.\w+\])*\s*$")  # the warning's type, after its text
_RULE = "------------------"  # nbclient's frame around the failing cell's source
_EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit|Interrupt)\b")
_OWN_FRAME = re.compile(r"^\s*File .*/(?:ftbook|examples)/[^\n]*")  # IPython's and CPython's frame lines
CELL_LINES = 4  # of the failing cell's source
ERROR_LINES = 14  # of the error, from its first line


def failed_chapters(warnings: str) -> list[list[str]]:
    """The warnings about a failed chapter, each as its lines, without terminal colours.

    A warning ends where myst-nb's type tag closes it; what follows (Sphinx's
    own crash report, after the build stopped) belongs to no chapter.
    """
    blocks: list[list[str]] = []
    open_block = False
    for line in _ANSI.sub("", warnings).splitlines():
        if _WARNING.match(line):
            blocks.append([])
            open_block = True
        if not open_block:
            continue
        if _END.search(line):
            line, open_block = _END.sub("", line), False
        blocks[-1].append(line)
    return [block for block in blocks if FAILED in block[0]]


def digest(warnings: str) -> str:
    """A few lines per failed chapter: where, the cell's first lines, our frames, and the last error."""
    out = []
    for block in failed_chapters(warnings):
        out.append(f"FAILED {_WARNING.match(block[0])['where']}")
        cell = _cell_source(block)
        if cell:
            out.append("  in the cell:")
            out += [f"    {line}" for line in cell[:CELL_LINES]]
            if len(cell) > CELL_LINES:
                out.append(f"    ... ({counted(len(cell) - CELL_LINES, 'more line')})")
        frames = [line.strip() for line in block if _OWN_FRAME.match(line)]
        if frames:
            out.append("  through:")
            out += [f"    {frame}" for frame in frames[-4:]]
        starts = [n for n, line in enumerate(block) if _EXCEPTION.match(line)]
        error = block[starts[-1]:] if starts else block[-ERROR_LINES:]
        error = [line for line in error if line.strip()]
        out.append("  error:")
        out += [f"    {line}" for line in error[:ERROR_LINES]]
        if len(error) > ERROR_LINES:
            out.append(f"    ... ({counted(len(error) - ERROR_LINES, 'more line')} in the full log)")
    return "\n".join(out)


def _cell_source(block: list[str]) -> list[str]:
    """The failing cell, between nbclient's first two rules (empty if the error is not a cell's)."""
    rules = [n for n, line in enumerate(block) if line.strip() == _RULE]
    if len(rules) < 2:
        return []
    return [line for line in block[rules[0] + 1:rules[1]] if line.strip()]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ftbook.build.failures WARNINGS_FILE", file=sys.stderr)
        return 2
    path = Path(args[0])
    if not path.is_file():
        print(f"error: no warnings file {path}: the build stopped before Sphinx wrote it", file=sys.stderr)
        return 2
    text = digest(path.read_text(encoding="utf-8", errors="replace"))
    print(text or f"no chapter failed to execute; the build's warnings are in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
