"""Is the GIL really off?

A free-threaded build can still run *with* the GIL: ``PYTHON_GIL=1``, or an
extension module without the ``Py_mod_gil`` slot, which turns the GIL back
on at import time with nothing but a ``RuntimeWarning``. Every example in
the book would then prove nothing, so we check after the imports that matter.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

from ftbook import ProvisionError


def gil_state() -> dict:
    """What this interpreter is and whether the GIL is on right now."""
    build = sysconfig.get_config_var("Py_GIL_DISABLED") == 1
    enabled = sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True
    return {"free_threaded_build": build, "gil_enabled": enabled}


def require_gil_disabled(context: str) -> None:
    """Raise if this process is not running free-threaded with the GIL off."""
    state = gil_state()
    if not state["free_threaded_build"]:
        raise RuntimeError(f"{context}: {sys.executable} is not a free-threaded build")
    if state["gil_enabled"]:
        hint = " (PYTHON_GIL is set to 1)" if os.environ.get("PYTHON_GIL") == "1" else (
            " (an imported extension module without Py_mod_gil re-enabled it; "
            "look for a RuntimeWarning naming it)"
        )
        raise RuntimeError(f"{context}: the GIL is enabled at run time{hint}")


_CHECK = """
import importlib, sys, warnings
warnings.simplefilter("always")
for name in sys.argv[1:]:
    importlib.import_module(name)
print("GIL", sys._is_gil_enabled())
"""


def check_python(python: str | Path, imports: Sequence[str] = ()) -> None:
    """Import *imports* in a fresh *python* and fail loudly if the GIL came back."""
    done = subprocess.run(
        [str(python), "-c", _CHECK, *imports], capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise ProvisionError(
            f"{python} could not import {', '.join(imports)}:\n{done.stderr.strip()}"
        )
    if done.stdout.split()[-1] != "False":
        raise ProvisionError(
            f"the GIL is enabled in {python} after importing {', '.join(imports) or 'nothing'}.\n"
            f"{done.stderr.strip() or 'PYTHON_GIL=1 in the environment?'}\n"
            "Every threading result would be meaningless, so this stops here."
        )
