import sys
import sysconfig
from pathlib import Path

import pytest

# The examples are scripts, not a package: make demo_patterns (which builds the extension) importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


@pytest.fixture(scope="session")
def metadata_demo():
    """The demo extension, compiled for this interpreter: with -fsanitize=thread on a TSAN build."""
    from demo_patterns import load_extension

    tsan = "--with-thread-sanitizer" in (sysconfig.get_config_var("CONFIG_ARGS") or "")
    return load_extension("thread" if tsan else None)
