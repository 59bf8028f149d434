"""The per-user cache: interpreters, downloads and environments.

It lives outside the clone so that every clone shares it and ``git clean``
does not throw away a 10-minute interpreter build.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import os
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
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
            log(f"==> waiting: another session or chain holds {lock_path} (it is preparing {name})")
            started = time.monotonic()
            fcntl.flock(handle, fcntl.LOCK_EX)
            log(f"==> lock acquired after {format_seconds(time.monotonic() - started)}")
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def folder_lock(folder: Path, log: Callable[[str], None] = print):
    """:func:`exclusive`, named after *folder* (a build folder, a clone's requirements/)."""
    return exclusive(f"{folder.name}-{hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]}", log)


def atomic_write_text(path: Path, text: str) -> None:
    """Write *path* so that a reader sees the old text or the new, never half of it.

    The temporary name is unique to this thread and process (``mkstemp``),
    so two writers of the same file never share a partial one.
    """
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.chmod(name, 0o644)
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)


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


DOWNLOAD_DEADLINE = 15 * 60  # seconds for a whole download: a mirror that trickles must end too


def download_verified(url: str, target: Path, sha256: str, *, timeout: float) -> None:
    """Download *url* to *target*, keeping it only if its SHA-256 is *sha256*.

    The file is written under a name no other thread or process can be
    using (``mkstemp`` in the target's folder: the process id alone is
    shared by a process's threads) and renamed into place once verified, so
    *target* is either complete and right or untouched. *timeout* bounds
    each network wait, :data:`DOWNLOAD_DEADLINE` the whole download. Raises
    :class:`DownloadError` (nothing kept) when the download fails or the
    hash differs.
    """
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    partial = Path(name)
    os.chmod(partial, 0o644)  # mkstemp's 0600 would make a shared cache unreadable to others
    deadline = time.monotonic() + DOWNLOAD_DEADLINE
    try:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, os.fdopen(handle, "wb") as out:
                handle = None
                while block := response.read(1 << 20):
                    out.write(block)
                    if time.monotonic() > deadline:
                        raise DownloadError(f"not complete after {DOWNLOAD_DEADLINE} s ({out.tell()} bytes)")
                expected = response.headers.get("Content-Length")
                if expected is not None and out.tell() != int(expected):
                    raise DownloadError(f"cut off after {out.tell()} of {expected} bytes")
        except (OSError, http.client.HTTPException, ValueError) as error:  # URLError is an OSError
            raise DownloadError(str(getattr(error, "reason", error)) or type(error).__name__) from None
        actual = sha256_of(partial)
        if actual != sha256:
            raise DownloadError(f"sha256 {actual} does not match the pinned {sha256}")
        os.replace(partial, target)
    finally:
        if handle is not None:
            os.close(handle)
        partial.unlink(missing_ok=True)


class FetchFailed(Exception):
    """No URL gave the pinned file; ``attempts`` holds one line per URL tried."""

    def __init__(self, attempts: list[str]):
        super().__init__("\n".join(attempts))
        self.attempts = attempts


def fetch_verified(
    target: Path, sha256: str, urls: Sequence[str], *, timeout: float, log: Callable[[str], None] = print
) -> Path:
    """*target*, complete and with SHA-256 *sha256*: the cached file, or the first URL that gives it.

    The file's owner is the lock named after it (``download-<name>``): two
    chains or two sessions that need one tarball at once do not both
    download it; the second waits, then finds the first one's verified
    file. A cached file with another hash (a disk error, a hand edit) is
    deleted and fetched again. Raises :class:`FetchFailed` when no URL works.
    """
    with exclusive(f"download-{target.name}", log):
        # Holding the file's lock, no one else is writing it: a partial file
        # left here was abandoned by a killed session.
        for abandoned in target.parent.glob(f".{target.name}.*.part"):
            abandoned.unlink(missing_ok=True)
        if target.exists():
            actual = sha256_of(target)
            if actual == sha256:
                return target
            log(f"==> {target} is corrupt (sha256 {actual[:16]}..., pinned {sha256[:16]}...): "
                "deleting it and downloading again")
            target.unlink()
        attempts: list[str] = []
        for url in urls:
            started = time.monotonic()
            try:
                download_verified(url, target, sha256, timeout=timeout)
            except DownloadError as error:
                log(f"    could not use {url}: {error}")
                attempts.append(f"  {url}\n      {error}")
                continue
            took = format_seconds(time.monotonic() - started)
            log(f"==> downloaded {url} ({target.stat().st_size / 1e6:.1f} MB in {took}, sha256 verified)")
            return target
        raise FetchFailed(attempts)


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
