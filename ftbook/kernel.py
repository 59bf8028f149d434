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
    print(  # two short lines: the output box is narrower than the text column
        f"Executed {today} on CPython {platform.python_version()} (free-threading build, GIL disabled)\n"
        f"NumPy {numpy.__version__}, {os.cpu_count()} CPUs, {sys.platform}"
    )
