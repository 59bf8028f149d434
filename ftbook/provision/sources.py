"""Released sources the chapters quote: NumPy's sdists from PyPI, and CPython's tarballs.

    numpy_sdist("2.2.2")  # -> ~/.cache/ft-metadata-book/sources/numpy-2.2.2
    cpython_source("3.14.7")  # -> ~/.cache/ft-metadata-book/sources/cpython-3.14.7

The sdist is found through PyPI's JSON API (``/pypi/numpy/<version>/json``:
the file's URL and its SHA-256), downloaded into the per-user cache, checked
against both PyPI's hash and the one pinned below, and unpacked. Nothing is
committed and nothing is built: ``pip download`` of an sdist would run
NumPy's build backend just to read its metadata.

A CPython release is its source tarball (``Python-<version>.tar.xz``,
SHA-256 pinned in :data:`CPYTHON_SOURCES`), fetched the way the interpreters'
tarballs are, from python.org or the Debian archive, and unpacked whole.

``nox -s docs`` calls :func:`prepare_sources` before the chapters run, so a
chapter calling :func:`numpy_sdist` or :func:`cpython_source` finds it done
and never touches the network.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urljoin

from ftbook import ProvisionError
from ftbook.provision.cache import FetchFailed, cache_dir, exclusive, fetch_verified, safe_extract
from ftbook.provision.interpreters import INTERPRETERS, Log, fetch_cpython_tarball
from ftbook.provision.locks import hashed_pins, pinned_version

PYPI_JSON = "https://pypi.org/pypi/{project}/{version}/json"
PYPI_PROJECT_JSON = "https://pypi.org/pypi/{project}/json"
TIMEOUT = 60  # seconds per request

# The releases whose sources the chapters read, besides today's: the
# releases that bracket each fix (before, with). Their sdists' SHA-256, as
# PyPI lists them, are pinned in requirements/numpy-sdists.txt (written by
# `./nox -s lock`), so that a changed file is an error, not a silently
# different chapter.
BRACKETING_RELEASES = ("2.2.1", "2.2.2", "2.2.3", "2.2.4", "2.2.5", "2.2.6", "2.3.0", "2.4.1", "2.4.2")
# Today's NumPy: the one the book's kernel has, as its lock pins it. The
# chapters' "today" is this release, and its sources are read too.
CURRENT_NUMPY = pinned_version("book", "numpy")
SDIST_LOCK = "numpy-sdists"
NUMPY_SDISTS = hashed_pins(SDIST_LOCK)
COMPLETE = ".ftbook-sdist.json"
SOURCES = "sources"  # what provisioning calls all of these together: a chain beside the interpreters'
# The CPython releases whose sources the chapters quote, and the SHA-256 of
# each tarball. 3.14.7 is the release the book's interpreters are built from
# (its pin is theirs). 3.15.0rc2 is the newest 3.15 these machines can reach:
# Debian's archive carries it as python3.15_3.15.0~rc2.orig.tar.xz, and its
# hash is that file's as downloaded on 2026-12-01 (python.org, whose
# published hash would settle whether the two files are one, is out of reach).
CPYTHON_SOURCES = {
    "3.14.7": INTERPRETERS["3.14t"].sha256,
    "3.15.0rc2": "8d93af5eaaaea5adfd41bd786a7ba3f03f2ad1ab57c6a65e0b963deab91d5ad7",
}


def sdist_info(project: str, version: str) -> dict:
    """The sdist of *project* *version* as PyPI's JSON API lists it: url, filename, sha256.

    Asks the release's own page first; a mirror that serves only the
    project-wide page (``/pypi/<project>/json``, every release's files under
    ``releases``) is asked that next. Relative URLs, which some mirrors
    return, are resolved against the page they came from.
    """
    pages = [PYPI_JSON.format(project=project, version=version), PYPI_PROJECT_JSON.format(project=project)]
    problems = []
    for page in pages:
        try:
            with urllib.request.urlopen(page, timeout=TIMEOUT) as response:
                data = json.load(response)
        except (urllib.error.URLError, OSError, ValueError) as error:
            problems.append(f"{page}: {error}")
            continue
        files = data.get("urls", []) if page == pages[0] else data.get("releases", {}).get(version, [])
        for entry in files:
            if entry.get("packagetype") == "sdist":
                return {"url": urljoin(page, entry["url"]), "filename": entry["filename"],
                        "sha256": entry["digests"]["sha256"]}
        problems.append(f"{page}: no source distribution of {version} listed")
    raise ProvisionError(f"could not find the {project} {version} sdist on PyPI:\n  " + "\n  ".join(problems))


def numpy_sdist(version: str, *, log: Log = print) -> Path:
    """The unpacked NumPy *version* sdist (its top folder); downloads it once.

    A no-op returning the cached folder when it is already there.
    """
    if version not in NUMPY_SDISTS:
        known = ", ".join(NUMPY_SDISTS)
        raise ProvisionError(f"no pinned hash for the NumPy {version} sdist in requirements/{SDIST_LOCK}.txt "
                             f"(pinned: {known}); add it to BRACKETING_RELEASES and run ./nox -s lock")
    target = sdist_dir(version)
    if (target / COMPLETE).is_file():
        return target
    with exclusive(f"numpy-sdist-{version}", log):
        if (target / COMPLETE).is_file():  # another session made it while we waited
            return target
        info = sdist_info("numpy", version)
        pinned = NUMPY_SDISTS[version]
        if info["sha256"] != pinned:
            raise ProvisionError(
                f"PyPI lists SHA-256 {info['sha256']} for {info['filename']}, but {pinned} is pinned in "
                f"requirements/{SDIST_LOCK}.txt; refusing to use it")
        archive = cache_dir("downloads") / info["filename"]
        try:
            fetch_verified(archive, pinned, [info["url"]], timeout=TIMEOUT, log=log)
        except FetchFailed as failed:
            raise ProvisionError(f"could not download the NumPy {version} sdist; nothing was kept:\n"
                                 f"{failed}") from None
        _unpack(archive, target, {**info, "verified_sha256": pinned})
        log(f"==> NumPy {version} sources in {target}")
    return target


def sdist_dir(version: str) -> Path:
    """Where NumPy *version*'s sdist is (or will be) unpacked; downloads nothing."""
    return cache_dir("sources") / f"numpy-{version}"


def sdist_record(version: str) -> dict:
    """What was downloaded for *version*: url, filename, sha256 (after :func:`numpy_sdist`)."""
    return json.loads((numpy_sdist(version, log=lambda _: None) / COMPLETE).read_text())


def cpython_source(version: str, *, log: Log = print) -> Path:
    """The unpacked CPython *version* source tree (``Python-<version>/``); fetches the tarball once."""
    if version not in CPYTHON_SOURCES:
        pinned = ", ".join(CPYTHON_SOURCES)
        raise ProvisionError(f"no pinned tarball for CPython {version} (pinned: {pinned}); add its SHA-256 "
                             "to CPYTHON_SOURCES in ftbook/provision/sources.py")
    target = cache_dir("sources") / f"cpython-{version}"
    if (target / COMPLETE).is_file():
        return target
    with exclusive(f"cpython-source-{version}", log):
        if (target / COMPLETE).is_file():  # another session made it while we waited
            return target
        archive = fetch_cpython_tarball(
            version, CPYTHON_SOURCES[version], log=log, purpose="the chapters that quote it",
            advice="Make one of those reachable; nothing else can stand in for the pinned tarball.")
        _unpack(archive, target, {"version": version, "verified_sha256": CPYTHON_SOURCES[version]})
        log(f"==> CPython {version} sources in {target}")
    return target


def _unpack(archive: Path, target: Path, record: dict) -> None:
    """Unpack *archive*'s one top folder as *target*, whole or not at all (the caller holds its lock)."""
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=target.parent))
    try:
        with tarfile.open(archive) as tar:
            safe_extract(tar, staging)
        (top,) = staging.iterdir()  # numpy-2.2.2/, Python-3.14.7/
        (top / COMPLETE).write_text(json.dumps(record, indent=1))
        if target.exists():
            shutil.rmtree(target)  # an earlier, interrupted unpack
        os.replace(top, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def prepare_sources(*, log: Log = print) -> list[Path]:
    """Every source the chapters read (NumPy's sdists, CPython's trees); for ``nox -s docs``."""
    return [*(numpy_sdist(version, log=log) for version in sdist_releases()),
            *(cpython_source(version, log=log) for version in CPYTHON_SOURCES)]


def sdist_releases(current: str = CURRENT_NUMPY) -> list[str]:
    """The releases whose sources the chapters read: the bracketing ones and today's (*current*)."""
    return sorted({*BRACKETING_RELEASES, current}, key=lambda v: tuple(map(int, v.split("."))))
