"""NumPy source distributions from PyPI, for the chapters that read NumPy's C code.

    numpy_sdist("2.2.2")  # -> ~/.cache/ft-metadata-book/sources/numpy-2.2.2

The sdist is found through PyPI's JSON API (``/pypi/numpy/<version>/json``:
the file's URL and its SHA-256), downloaded into the per-user cache, checked
against both PyPI's hash and the one pinned below, and unpacked. Nothing is
committed and nothing is built: ``pip download`` of an sdist would run
NumPy's build backend just to read its metadata.

``nox -s docs`` calls :func:`prepare_sources` before the chapters run, so a
chapter calling :func:`numpy_sdist` finds it done and never touches the
network.
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
from ftbook.cache import FetchFailed, cache_dir, exclusive, fetch_verified, safe_extract
from ftbook.interpreters import Log

PYPI_JSON = "https://pypi.org/pypi/{project}/{version}/json"
PYPI_PROJECT_JSON = "https://pypi.org/pypi/{project}/json"
TIMEOUT = 60  # seconds per request

# SHA-256 of numpy-<version>.tar.gz as PyPI lists it. Pinned so that a
# changed file is an error, not a silently different chapter.
NUMPY_SDISTS = {
    "2.2.1": "45681fd7128c8ad1c379f0ca0776a8b0c6583d2f69889ddac01559dfe4390918",
    "2.2.2": "ed6906f61834d687738d25988ae117683705636936cc605be0bb208b23df4d8f",
    "2.2.3": "dbdc15f0c81611925f382dfa97b3bd0bc2c1ce19d4fe50482cb0ddc12ba30020",
    # The family chapter's before/after pairs (the releases that bracket each fix).
    "2.2.4": "9ba03692a45d3eef66559efe1d1096c4b9b75c0986b5dff5530c378fb8331d4f",
    "2.2.5": "a9c0d994680cd991b1cb772e8b297340085466a6fe964bc9d4e80f5e2f43c291",
    "2.2.6": "e29554e2bef54a90aa5cc07da6ce955accb83f21ab5de01a62c8478897b264fd",
    "2.3.0": "581f87f9e9e9db2cba2141400e160e9dd644ee248788d6f90636eeb8fd9260a6",
    "2.4.1": "a1ceafc5042451a858231588a104093474c6a5c57dcc724841f5c888d237d690",
    "2.4.2": "659a6107e31a83c4e33f763942275fd278b21d095094044eb35569e86a21ddae",
    # The current release when this was written: the setters as they are today.
    "2.5.5": "5cddc243c75114ba845f01b1f87aca1572dbf7b6c2d88636ed3e1d2bccd7f1bf",
}
CURRENT_NUMPY = "2.5.5"
COMPLETE = ".ftbook-sdist.json"


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
        raise ProvisionError(f"no pinned hash for the NumPy {version} sdist; known: {known}")
    target = cache_dir("sources") / f"numpy-{version}"
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
                f"{__name__}; refusing to use it")
        archive = cache_dir("downloads") / info["filename"]
        try:
            fetch_verified(archive, pinned, [info["url"]], timeout=TIMEOUT, log=log)
        except FetchFailed as failed:
            raise ProvisionError(f"could not download the NumPy {version} sdist; nothing was kept:\n"
                                 f"{failed}") from None
        staging = Path(tempfile.mkdtemp(prefix=f"numpy-{version}.", dir=target.parent))
        try:
            with tarfile.open(archive) as tar:
                safe_extract(tar, staging)
            (top,) = staging.iterdir()  # numpy-2.2.2/
            (top / COMPLETE).write_text(json.dumps({**info, "verified_sha256": pinned}, indent=1))
            if target.exists():
                shutil.rmtree(target)  # an earlier, interrupted unpack
            os.replace(top, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log(f"==> NumPy {version} sources in {target}")
    return target


def sdist_record(version: str) -> dict:
    """What was downloaded for *version*: url, filename, sha256 (after :func:`numpy_sdist`)."""
    return json.loads((numpy_sdist(version, log=lambda _: None) / COMPLETE).read_text())


def prepare_sources(*, log: Log = print) -> list[Path]:
    """Every sdist the chapters read; for ``nox -s docs``."""
    return [numpy_sdist(version, log=log) for version in NUMPY_SDISTS]
