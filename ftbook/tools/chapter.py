"""Execute one chapter, cell by cell, as the book's build does, without building the book.

    ./nox -s chapter -- root-cause          # provisions what the chapter declares, then this
    python -m ftbook.tools.chapter family/restore --show

Writing a chapter is quicker when you can run just that chapter and see
which cell fails and how long each took. This reads the MyST notebook the
way myst-nb does and runs it on this interpreter's kernel with the book's
per-cell timeout, with the chapter's inputs enforced exactly as in the
build: the examples and book environments :mod:`ftbook.build.inputs` finds
in it are the only ones ``run_example`` will run. Nothing is cached and
nothing is written to ``docs/_build``.
"""

from __future__ import annotations

import argparse
import sys
import time

from ftbook.build import CELL_TIMEOUT
from ftbook.build.cells import chapter_name, find_chapter
from ftbook.build.inputs import chapter_inputs
from ftbook.run import ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftbook.tools.chapter",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("chapter", help="a chapter's name (root-cause, family/restore) or its path")
    parser.add_argument("--timeout", type=float, default=CELL_TIMEOUT,
                        help=f"seconds per cell (default {CELL_TIMEOUT}, as the book)")
    parser.add_argument("--show", action="store_true", help="print every cell's output, not only failures")
    args = parser.parse_args(argv)
    try:
        path = find_chapter(args.chapter)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    try:
        import nbclient
        from myst_nb.core.read import read_myst_markdown_notebook
    except ImportError as error:
        parser.exit(2, f"error: {error.name} is missing; run this as ./nox -s chapter -- {args.chapter}\n")

    inputs = chapter_inputs(path.read_text())
    inputs.declare()  # as the build's extension does: the kernel started below inherits the lists
    print(f"{chapter_name(path)}: runs {', '.join(inputs.examples) or 'no examples'}; "
          f"book environments: {', '.join(inputs.env_names) or 'none'}", flush=True)

    notebook = read_myst_markdown_notebook(path.read_text(), path=path)
    client = nbclient.NotebookClient(
        notebook, timeout=args.timeout, kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},  # cells run in the chapter's folder
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
    print(f"{path.relative_to(ROOT)}: {verdict} in {time.monotonic() - started:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
