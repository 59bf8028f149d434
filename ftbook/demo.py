"""The book's demo extension (examples/metadata_demo.c), loaded into a chapter's kernel."""

from __future__ import annotations

import sys

from ftbook.gil import require_gil_disabled
from ftbook.run import EXAMPLES


def load_demo_extension(*, sanitize: bool = False):
    """Import the book's demo extension (examples/metadata_demo.c) into this process.

    Uses the examples' own loader, ``demo_patterns.load_extension``, which
    compiles the extension for the running interpreter if needed (the docs
    session already did).
    """
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    import demo_patterns

    try:
        module = demo_patterns.load_extension("thread" if sanitize else None)
    except demo_patterns.BuildError as error:
        raise RuntimeError(f"the demo extension could not be built or loaded: {error}") from None
    require_gil_disabled("after importing the demo extension")  # its Py_mod_gil slot must keep it off
    return module
