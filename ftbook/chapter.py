"""The first cell of every chapter calls :func:`check_kernel`.

It imports what chapters rely on, then refuses to go on if the GIL is on:
a chapter about races that ran with the GIL would show nothing and say so
with confidence. The one line it prints tells the reader what the chapter's
outputs were measured on.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys

from ftbook.gil import require_gil_disabled


def check_kernel() -> None:
    import matplotlib  # noqa: F401 - imported so that a GIL re-enable would show here
    import numpy

    require_gil_disabled("this chapter's kernel")
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"Executed {today} on CPython {platform.python_version()} (free-threading build, "
        f"GIL disabled), NumPy {numpy.__version__}, {os.cpu_count()} CPUs, {sys.platform}."
    )


_ENV_PROBE = """
import json, platform, sys, sysconfig
import numpy
print(json.dumps({
    "python": platform.python_version(),
    "build": "free-threading" if sysconfig.get_config_var("Py_GIL_DISABLED") == 1 else "default (GIL)",
    "tsan": "--with-thread-sanitizer" in (sysconfig.get_config_var("CONFIG_ARGS") or ""),
    "numpy": numpy.__version__,
    "gil": sys._is_gil_enabled(),
}))
"""


def describe_book_envs():
    """A table of the book environments, each asked from inside itself.

    Raises if any of them runs with the GIL on after importing NumPy.
    """
    from IPython.display import Markdown

    from ftbook.envs import BOOK_ENVS, book_env_python
    from ftbook.run import run

    rows = []
    for env in BOOK_ENVS.values():
        outcome = run([book_env_python(env.name), "-c", _ENV_PROBE], timeout=120)
        info = outcome.summary
        if info is None:
            raise RuntimeError(f"probing {env.name} failed ({outcome.describe()}):\n{outcome.stderr}")
        if info["gil"]:
            raise RuntimeError(f"{env.name}: the GIL is enabled after importing NumPy")
        build = info["build"] + (" + ThreadSanitizer" if info["tsan"] else "")
        rows.append([env.name, info["python"], build, info["numpy"], "off", env.purpose])
    return Markdown(markdown_table(
        ["environment", "CPython", "build", "NumPy", "GIL at run time", "used for"], rows
    ))


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
