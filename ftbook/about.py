"""What the book's environments are, asked from inside each (the "About this build" chapter)."""

from __future__ import annotations

from ftbook.provision.envs import BOOK_ENVS, book_env_python
from ftbook.run import run_command
from ftbook.tables import markdown_table

USES_EVERY_BOOK_ENV = True  # ftbook.build.inputs: the "About this build" chapter asks each one

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

    rows = []
    for env in BOOK_ENVS.values():
        outcome = run_command([book_env_python(env.name), "-c", _ENV_PROBE], timeout=120)
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
