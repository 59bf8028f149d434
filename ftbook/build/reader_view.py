"""What a reader sees is what a reader would type: no visible code cell runs the book's machinery.

A contributor copies a visible cell into their own checkout, where there is
NumPy, the examples and a shell, but no ``ftbook``. So a cell whose input is
on the page (not ``remove-input``/``remove-cell``) must neither import
``ftbook`` nor use a name that came from it, directly or through a hidden
cell that assigned it from one (``demo = load_demo_extension()`` makes
``demo`` the book's too). Such a cell belongs in a removed cell, and what the
reader types (the commands box, a console line) is shown instead.

``hide-input`` does not count as hidden here: its toggle is labelled "Show
code cell source", and a reader who opens it finds code they cannot run.

:func:`machinery_in_view` lists the offences of one chapter;
:func:`setup` makes every one of them a build warning (``-W``: an error),
reported at the chapter's line.
"""

from __future__ import annotations

import ast
from pathlib import Path

from ftbook.build.cells import DOCS, Cell, code_cells

REMOVED_INPUT = frozenset({"remove-input", "remove-cell"})
MACHINERY = "ftbook"


def _imported_machinery(tree: ast.AST) -> set[str]:
    """Names bound by ``import ftbook...`` or ``from ftbook... import ...`` in *tree*."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == MACHINERY:
            names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names
                      if alias.name.split(".")[0] == MACHINERY}
    return names


def _loaded(node: ast.AST) -> set[str]:
    return {name.id for name in ast.walk(node)
            if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Load)}


def _bound_from(tree: ast.AST, machinery: set[str]) -> set[str]:
    """Names a hidden cell binds from the book's names: assignments and definitions that use them."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign) and node.value is not None:
            if _loaded(node.value) & machinery:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                bound |= {n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.FunctionDef | ast.ClassDef) and _loaded(node) & machinery:
            bound.add(node.name)
        elif isinstance(node, ast.For | ast.With) and _loaded(node) & machinery:
            targets = [node.target] if isinstance(node, ast.For) else [i.optional_vars for i in node.items]
            bound |= {n.id for target in targets if target is not None
                      for n in ast.walk(target) if isinstance(n, ast.Name)}
    return bound


def _offence(cell: Cell, machinery: set[str]) -> str | None:
    try:
        tree = ast.parse(cell.source)
    except SyntaxError:
        return None  # IPython magics: the lint reports what it cannot parse
    imported = _imported_machinery(tree)
    used = sorted(_loaded(tree) & machinery)
    if imported:
        return f"imports the book's own package ({', '.join(sorted(imported))})"
    if used:
        return f"uses names from the book's own package ({', '.join(used)})"
    return None


# Pages whose readers are this book's own contributors, who have ftbook in their checkout: there the
# machinery is the subject, and showing it is showing what they would type.
FOR_THE_BOOKS_CONTRIBUTORS = frozenset({"chapters/contributing.md"})


def machinery_in_view(chapter: Path) -> list[tuple[int, str]]:
    """``(line, what)`` for each visible code cell of *chapter* that runs the book's machinery."""
    path, docs = chapter.resolve(), DOCS.resolve()
    if path.is_relative_to(docs) and path.relative_to(docs).as_posix() in FOR_THE_BOOKS_CONTRIBUTORS:
        return []
    machinery: set[str] = set()
    offences = []
    for cell in code_cells(chapter):
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            tree = None
        if not cell.tags & REMOVED_INPUT and (offence := _offence(cell, machinery)):
            offences.append((cell.line, offence))
        if tree is not None:
            machinery |= _imported_machinery(tree)
            machinery |= _bound_from(tree, machinery)
    return offences


ADVICE = ("a reader cannot run it: tag the cell `remove-input` (or `remove-cell`) "
          "and show what a reader types instead (ftbook.commands.commands_box)")


def _check(app, docname: str, source: list[str]) -> None:
    from sphinx.util import logging

    from ftbook.build.cells import is_notebook

    if not is_notebook(source[0]):
        return
    path = Path(app.env.doc2path(docname))
    for line, offence in machinery_in_view(path):
        logging.getLogger(__name__).warning(f"a visible code cell {offence}: {ADVICE}",
                                            location=(docname, line))


def setup(app) -> dict:
    app.connect("source-read", _check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
