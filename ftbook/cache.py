"""The per-user cache: interpreters, downloads and environments.

It lives outside the clone so that every clone shares it and ``git clean``
does not throw away a 10-minute interpreter build.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from ftbook import ProvisionError

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


class DownloadError(Exception):
    """A download that failed or did not match its pinned hash; the message is the reason."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_verified(url: str, target: Path, sha256: str, *, timeout: float) -> None:
    """Download *url* to *target*, keeping it only if its SHA-256 is *sha256*.

    The file is written under a temporary name and renamed into place once
    verified, so *target* is either complete and right or untouched. Raises
    :class:`DownloadError` (nothing kept) when the download fails or the
    hash differs.
    """
    partial = target.with_name(f"{target.name}.{os.getpid()}.part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (OSError, urllib.error.URLError, ValueError) as error:
        partial.unlink(missing_ok=True)
        raise DownloadError(str(getattr(error, "reason", error))) from None
    actual = sha256_of(partial)
    if actual != sha256:
        partial.unlink()
        raise DownloadError(f"sha256 {actual} does not match the pinned {sha256}")
    os.replace(partial, target)


def safe_extract(tar: tarfile.TarFile, into: Path) -> None:
    """Unpack refusing absolute paths, ``..``, links and devices (the "data" filter where there is one)."""
    if hasattr(tarfile, "data_filter"):  # 3.12, and 3.9.17+/3.10.12+/3.11.4+
        tar.extractall(into, filter="data")
        return
    for member in tar.getmembers():
        unsafe = member.name.startswith("/") or ".." in Path(member.name).parts
        if unsafe or not (member.isfile() or member.isdir()):
            raise ProvisionError(f"refusing to unpack {member.name!r} from {tar.name}")
    tar.extractall(into)
