"""Execute one chapter, cell by cell, without building the book.

    .nox/ft-book/bin/python -m ftbook.tools.chapter docs/chapters/the-bug.md

Writing a chapter is quicker when you can run just that chapter and see
which cell fails and how long each took. This reads the MyST notebook the
way myst-nb does, runs it on the current interpreter's kernel with the same
per-cell timeout as the book, and prints one line per code cell. Nothing is
cached and nothing is written to ``docs/_build``; ``nox -s docs`` is still
what builds the book.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftbook.tools.chapter",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("chapter", type=Path, help="a MyST chapter, e.g. docs/chapters/the-bug.md")
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds per cell (default 300, as the book)")
    parser.add_argument("--show", action="store_true", help="print every cell's output, not only failures")
    args = parser.parse_args(argv)
    if not args.chapter.is_file():
        parser.error(f"no such chapter: {args.chapter}")

    try:
        import nbclient
        from myst_nb.core.read import read_myst_markdown_notebook
    except ImportError as error:
        parser.exit(2, f"error: {error.name} is missing; run this with the docs environment's python "
                    "(.nox/ft-book/bin/python, made by ./nox -s docs)\n")

    notebook = read_myst_markdown_notebook(args.chapter.read_text(), path=args.chapter)
    client = nbclient.NotebookClient(
        notebook, timeout=args.timeout, kernel_name="python3",
        resources={"metadata": {"path": str(args.chapter.parent)}},  # cells run in the chapter's folder
    )
    code_cells = [(i, cell) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    started = time.monotonic()
    failed = False
    with client.setup_kernel():
        for number, (index, cell) in enumerate(code_cells, 1):
            first_line = next((line for line in cell.source.splitlines() if line.strip()), "")[:60]
            cell_started = time.monotonic()
            try:
                client.execute_cell(cell, index)
                status = "ok"
            except nbclient.exceptions.CellExecutionError:
                status, failed = "FAILED", True
            except nbclient.exceptions.CellTimeoutError:
                status, failed = f"TIMED OUT after {args.timeout:.0f} s", True
            print(f"cell {number:2d}/{len(code_cells)} {status:<6} {time.monotonic() - cell_started:7.1f} s  "
                  f"{first_line}", flush=True)
            if args.show or status != "ok":
                for output in cell.get("outputs", []):
                    data = output.get("data", {})
                    text = (output.get("text") or "\n".join(output.get("traceback", []))
                            or data.get("text/markdown") or data.get("text/plain", ""))
                    print("    " + str(text).replace("\n", "\n    "))
            if failed:
                break
    verdict = "failed" if failed else "all cells ran"
    print(f"{args.chapter.name}: {verdict} in {time.monotonic() - started:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
