"""The commands a reader types to reproduce what a chapter cell ran (with uv)."""

from __future__ import annotations

from ftbook.envs import BOOK_ENVS
from ftbook.sources import CURRENT_NUMPY


def reader_command(example: str, *args: str, env: str | None = None, gil: bool = False) -> str:
    """The command a reader types to run *example* as a chapter cell ran it, with uv.

    *env* names a book environment (``ftbook.envs.BOOK_ENVS``); without one,
    the example runs on 3.14t with today's NumPy as the book's lock pins it.
    Either way uv runs ``python script`` with the release pinned, so that the
    script's own unpinned ``numpy`` requirement (PEP 723) pulls in neither a
    newer release than the cell ran nor one with no wheel for that interpreter.
    """
    prefix = "PYTHON_GIL=1 " if gil else ""
    script = f"examples/{example} {' '.join(args)}".rstrip()
    if env is None:
        return f"{prefix}uv run --python 3.14t --with numpy=={CURRENT_NUMPY} python {script}"
    spec = BOOK_ENVS[env]
    if spec.interpreter not in ("3.13t", "3.14t"):
        raise ValueError(f"{env} runs on {spec.interpreter}, which uv cannot provide")
    pins = " ".join(f"--with {requirement}" for requirement in spec.requirements)
    return f"{prefix}uv run --python {spec.interpreter} {pins} python {script}"


def commands_box(*commands: str):
    """Shell commands in a console block: the copy button copies them without the prompts."""
    from IPython.display import Markdown

    return Markdown("```console\n" + "\n".join(f"$ {command}" for command in commands) + "\n```")
