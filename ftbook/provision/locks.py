"""Pinned, hashed requirements: what every environment installs, exactly.

Every environment the project makes installs from a lock file in
``requirements/`` with ``pip install --require-hashes --no-deps -r``: every
distribution is named at one version, and pip refuses a file whose SHA-256
is not listed. A new release on PyPI therefore changes nothing until
``./nox -s lock`` refreshes the locks on purpose (and prints what changed).

The locks are written by ``uv pip compile --universal --generate-hashes``
(uv only runs in that session; installing needs nothing but pip, which every
interpreter the project builds or finds has). What they are compiled from is
:data:`SESSION_LOCKS` below (dependency groups of ``pyproject.toml``, and
the two tools) and each book environment's ``lock`` (``ftbook.provision.envs``).

The NumPy source distributions the chapters read are pinned the same way, in
``requirements/numpy-sdists.txt`` (one ``numpy==X --hash=sha256:...`` line
each): :mod:`ftbook.provision.sources` reads them from there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
REFRESH_COMMAND = "./nox -s lock"


@dataclasses.dataclass(frozen=True)
class Lock:
    """One lock file and what it is compiled from."""

    name: str  # requirements/<name>.txt
    python: str  # the Python version uv resolves for
    group: str | None = None  # a dependency group of pyproject.toml ...
    requirements: tuple[str, ...] = ()  # ... or these requirements
    constrained_by: str | None = None  # another lock whose versions this one must agree with

    @property
    def path(self) -> Path:
        return lock_path(self.name)


# The nox sessions' environments and the two tools. The book environments'
# locks (env-<name>) are added by ftbook.provision.envs, which knows their requirements.
SESSION_LOCKS = (
    # nox itself, for ./nox: any host Python from 3.10 runs it (nox 2026.10.20 needs 3.10).
    Lock("nox", "3.10", requirements=("nox==2026.10.20",)),
    # uv, for ./nox -s lock alone.
    Lock("uv", "3.10", requirements=("uv",)),
    Lock("book", "3.14", group="book"),
    Lock("examples", "3.14", group="examples", constrained_by="book"),
    Lock("lint", "3.14", group="lint"),
    # What builds NumPy with ThreadSanitizer from its sdist (ftbook.provision.instrumented), on 3.14t;
    # NumPy brings its own meson. Cython 3.3: the first series that knows 3.14's free-threaded build.
    Lock("numpy-build", "3.14", requirements=("meson-python==0.18.0", "cython==3.3.1", "ninja==1.13.2")),
)

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)
_HASHED_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)\s+--hash=sha256:([0-9a-f]{64})\s*$",
                         re.MULTILINE)


def lock_path(name: str) -> Path:
    return REQUIREMENTS / f"{name}.txt"


def pins(text: str) -> dict[str, str]:
    """``{name: version}`` of every ``name==version`` line of a lock file's *text*."""
    return {_normalise(name): version for name, version in _PIN.findall(text)}


def pinned_version(lock: str, project: str) -> str:
    """The version of *project* in ``requirements/<lock>.txt``."""
    path = lock_path(lock)
    try:
        return pins(path.read_text())[_normalise(project)]
    except (OSError, KeyError):
        raise LookupError(f"{path} pins no {project}; run {REFRESH_COMMAND}") from None


def hashed_pins(name: str) -> dict[str, str]:
    """``{version: sha256}`` of a one-hash-per-line lock such as ``numpy-sdists``."""
    return {version: digest for _, version, digest in _HASHED_PIN.findall(lock_path(name).read_text())}


def digest(path: Path) -> str:
    """A short SHA-256 of a lock file: part of the name of what is installed from it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
