"""The per-user cache: interpreters, downloads and environments.

It lives outside the clone so that every clone shares it and ``git clean``
does not throw away a 10-minute interpreter build.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

CACHE_ENV_VAR = "FTBOOK_CACHE"


def cache_root() -> Path:
    """``$FTBOOK_CACHE``, else ``$XDG_CACHE_HOME/ft-metadata-book``, else ``~/.cache/...``."""
    explicit = os.environ.get(CACHE_ENV_VAR)
    if explicit:
        return Path(explicit).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return (Path(xdg).expanduser() / "ft-metadata-book").resolve()


def cache_dir(*parts: str) -> Path:
    """A folder inside the cache, created if missing."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def exclusive(name: str, log: Callable[[str], None] = print) -> Iterator[None]:
    """Hold an exclusive, cross-process lock called *name*.

    ``flock`` locks are released by the kernel when the holder dies, so a
    session killed mid-build never leaves a stale lock behind.
    """
    lock_path = cache_dir("locks") / f"{name}.lock"
    with open(lock_path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"==> waiting: another session holds {lock_path} (it is preparing {name})")
            started = time.monotonic()
            fcntl.flock(handle, fcntl.LOCK_EX)
            log(f"==> lock acquired after {format_seconds(time.monotonic() - started)}")
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def format_seconds(seconds: float) -> str:
    """``174.2`` -> ``'2 min 54 s'``; short durations keep one decimal."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"
