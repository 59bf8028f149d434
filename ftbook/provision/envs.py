"""Virtual environments on the provisioned interpreters.

Two kinds use the same code:

- the nox sessions' own environments (``.nox/ft-book`` ...), one per clone;
- the *book environments* that chapters run examples in (NumPy 2.2.2 on
  3.13t, ...), kept in the per-user cache and shared by every clone.

Every environment installs from a hashed lock file (:mod:`ftbook.provision.locks`),
exactly: nothing floats with PyPI. An environment is rebuilt only when what
it is made of changes: the interpreter, the lock or the project path. That is
what keeps an unchanged ``nox -s docs`` fast.

A book environment's folder is named after its lock's digest
(``envs/numpy-2.2.2-<digest>``): two clones whose locks differ each get their
own, instead of one rebuilding the folder the other is running examples in.
The stamp that says an environment is complete is written last, atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from ftbook import DECLARED_ENVS, ProvisionError, check_declared
from ftbook.provision.cache import atomic_write_text, cache_dir, exclusive, format_seconds, sha256_of
from ftbook.provision.interpreters import Log, find_or_build, get_spec
from ftbook.provision.locks import Lock, digest

STAMP = ".ftbook-stamp.json"
# How the test suite tells `nox -s tests` which book environments the selected
# tests need (tests/conftest.py prints it under --print-needed-envs).
NEEDED_ENVS_PREFIX = "ftbook-needed-envs: "
INSTALL_TIMEOUT = 20 * 60


@dataclasses.dataclass(frozen=True)
class BookEnv:
    """An environment a chapter runs examples in."""

    name: str
    interpreter: str  # a key of ftbook.provision.interpreters.INTERPRETERS
    requirements: tuple[str, ...]  # what the lock is compiled from (and what a reader asks uv for)
    purpose: str
    # Another interpreter whose pip installs the requirements, for an
    # interpreter too slow to run pip itself (see ensure_venv's installer).
    pip_from: str | None = None
    constrained_by: str | None = None  # a lock whose versions this one must agree with
    # A NumPy release built here with ThreadSanitizer from its sdist (ftbook.provision.instrumented),
    # installed instead of a lock: no index has such a wheel.
    sanitized_numpy: str | None = None

    @property
    def lock(self) -> Lock | None:
        if self.sanitized_numpy:  # the NumPy is a wheel built here; the lock has what runs beside it
            return Lock(SANITIZED_LOCK, "3.14", requirements=self.requirements) if self.requirements else None
        series = self.interpreter.removesuffix("-tsan").removesuffix("t")
        return Lock(f"env-{self.name}", series, requirements=self.requirements,
                    constrained_by=self.constrained_by)


# The NumPy releases built here with ThreadSanitizer (ftbook.provision.instrumented), in build order:
# 2.2.1, the last with the .flat flags and intp byte-order writes (numpy/numpy#28042, #28143);
# 2.2.2, their fix and the last with the np.repeat race (#28197); 2.2.3, its fix (the 2.2 series:
# the first in full, each next one a step); today's release, for the races still open; and today's
# release with the book's patches to them (patches/numpy-2.5.5), a step from it.
SANITIZED_RELEASES = ("2.2.1", "2.2.2", "2.2.3", "2.5.5", "2.5.5-patched")


def _sanitized_purpose(version: str) -> str:
    release, patched, _ = version.partition("-patched")
    return f"NumPy {release}{f' with patches/numpy-{release}' if patched else ''} built with ThreadSanitizer"


SANITIZED_LOCK = "env-tsan-numpy"  # one lock for all of them: pytest, to run NumPy's own tests
# What NumPy's own test files need to be collected: pytest, and Hypothesis (test_dtype.py imports it;
# its pytest plugin imports it only for a test that does). The Hypothesis SciPy's runs use.
NUMPY_TEST_STACK = ("pytest==9.2.0", "hypothesis==6.122.0")
SCIPY_TEST_STACK = ("scipy==1.15.1", "pytest-run-parallel==0.10.0", *NUMPY_TEST_STACK)
BOOK_ENVS: dict[str, BookEnv] = {
    env.name: env
    for env in (
        BookEnv(
            "numpy-2.2.2",
            "3.13t",
            ("numpy==2.2.2",),
            "the last NumPy release with the np.repeat race (cp313t wheels only)",
        ),
        BookEnv(
            "numpy-2.2.3",
            "3.13t",
            ("numpy==2.2.3",),
            "the first NumPy release with the np.repeat fix",
        ),
        BookEnv(
            "numpy-2.2.5",
            "3.13t",
            ("numpy==2.2.5",),
            "the last NumPy release in which the first array claims StringDType's singleton (#28813)",
        ),
        BookEnv(
            "numpy-2.2.6",
            "3.13t",
            ("numpy==2.2.6",),
            "the StringDType fix (#28813); the last release with the 0-d out ndim hack",
        ),
        BookEnv(
            "numpy-2.3.0",
            "3.13t",
            ("numpy==2.3.0",),
            "the first NumPy release without the 0-d out ndim hack (#27997)",
        ),
        # SciPy's own test of the discovery (TestSomersD::test_strided), run as SciPy's
        # free-threading work ran it: SciPy 1.15.1 (its cp313t wheels were the current ones
        # then), pytest-run-parallel 0.10.0, and a Hypothesis from before it needed a Rust
        # build (current releases cannot be built here: no crates download).
        BookEnv(
            "scipy-numpy-2.2.2",
            "3.13t",
            SCIPY_TEST_STACK + ("numpy==2.2.2",),
            "SciPy's TestSomersD::test_strided on the last NumPy with the np.repeat race",
        ),
        BookEnv(
            "scipy-numpy-2.2.3",
            "3.13t",
            SCIPY_TEST_STACK + ("numpy==2.2.3",),
            "SciPy's TestSomersD::test_strided on the first NumPy with the fix",
        ),
        BookEnv(
            "tsan",
            "3.14t-tsan",
            ("numpy",),
            "ThreadSanitizer runs of the demo extension",
            pip_from="3.14t",  # same cp314t wheels; pip itself under TSAN took minutes
            constrained_by="book",  # the NumPy the book's kernel has
        ),
        # NumPy's own code under ThreadSanitizer: the last release with the np.repeat race and the fix.
        *(BookEnv(f"tsan-numpy-{version}", "3.14t-tsan", NUMPY_TEST_STACK,
                  _sanitized_purpose(version), pip_from="3.14t", sanitized_numpy=version)
          for version in SANITIZED_RELEASES),
    )
}


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(
    venv: Path,
    base_python: Path,
    lock: Path | None,
    *,
    wheels: tuple[Path, ...] = (),
    project: Path | None = None,
    installer: Path | None = None,
    log: Log = print,
    label: str | None = None,
) -> Path:
    """Make *venv* hold exactly what *lock* pins, on *base_python*; return its python.

    *lock* is a hashed requirements file (:mod:`ftbook.provision.locks`), installed
    with ``--require-hashes --no-deps`` (None: nothing from an index). *wheels*
    are local wheels installed after it with ``--no-deps``, each recorded in
    the stamp by its SHA-256. *project*, if given, is put on the
    environment's ``sys.path`` with a ``.pth`` file: what an editable install
    does, without a build step. *installer*, if given, is an interpreter of
    the same version and ABI whose pip installs the lock (``pip install
    --target``), so that pip never runs on *base_python*. The environment
    itself has no pip.

    The stamp records what was asked for and what got installed (name and
    version of every distribution), so a chapter's results can be keyed by
    the exact environment they came from. The environment's owner is the
    lock named after its folder; the stamp is written last, atomically, so
    a reader never sees a stamp for a half-made environment.
    """
    label = label or venv.name
    wanted = {
        "python": str(base_python),
        "python_mtime": base_python.stat().st_mtime,
        "lock": f"{lock.name} {digest(lock)}" if lock else None,
        "project": str(project) if project else None,
        "installer": str(installer) if installer else None,
    }
    if wheels:  # only then: the stamps of environments without any stay as they were
        wanted["wheels"] = [f"{wheel.name} {sha256_of(wheel)}" for wheel in wheels]
    stamp = venv / STAMP
    with exclusive(f"venv-{hashlib.sha256(str(venv).encode()).hexdigest()[:12]}", log):
        recorded = _read_json(stamp)
        if isinstance(recorded, dict) and recorded.get("wanted") == wanted and venv_python(venv).exists():
            return venv_python(venv)
        source = lock.relative_to(lock.parent.parent) if lock else ", ".join(wheel.name for wheel in wheels)
        log(f"==> preparing environment {label} in {venv} (from {source})")
        started = time.monotonic()
        if venv.exists():
            shutil.rmtree(venv)
        # No pip inside: copying one in (ensurepip) took longer than installing
        # numpy. The base interpreter's pip installs into the environment instead
        # (`pip --python`), or the installer's, into its site-packages (`--target`).
        _checked_run([str(base_python), "-m", "venv", "--without-pip", str(venv)], f"creating {venv}")
        purelib = Path(_checked_run(
            [str(venv_python(venv)), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            f"asking {venv} for its site-packages",
        ).strip())
        pip = [str(installer), "-m", "pip", "install", "--target", str(purelib)] if installer else [
            str(base_python), "-m", "pip", "--python", str(venv_python(venv)), "install"]
        quiet = ["--disable-pip-version-check", "--progress-bar", "off", "-q", "--no-deps"]
        if lock:
            _checked_run([*pip, *quiet, "--require-hashes", "-r", str(lock)],
                         f"installing {lock.name} into {venv}")
        if wheels:
            _checked_run([*pip, *quiet, *map(str, wheels)], f"installing {', '.join(w.name for w in wheels)}")
        if project:
            (purelib / "ftbook-project.pth").write_text(str(project) + "\n")
        installed = installed_distributions(purelib)
        atomic_write_text(stamp, json.dumps({"wanted": wanted, "installed": installed}, indent=1))
        log(f"==> environment {label} ready in {format_seconds(time.monotonic() - started)}")
    return venv_python(venv)


def installed_distributions(site_packages: Path) -> dict[str, str]:
    """``{name: version}`` of every distribution in *site_packages*, read from its metadata files."""
    found = {}
    for info in sorted(site_packages.glob("*.dist-info")):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        found[name.lower()] = version
    return found


def installed_version(name: str, distribution: str) -> str | None:
    """The version of *distribution* that book environment *name*'s stamp says is installed."""
    recorded = _read_json(book_env_dir(name) / STAMP)
    return recorded.get("installed", {}).get(distribution) if isinstance(recorded, dict) else None


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _checked_run(command: list[str], what: str) -> str:
    """Run *command*; return its stdout, or raise a ProvisionError naming *what* failed.

    On failure the whole output goes to a log file in the cache, named in
    the message next to its last lines.
    """
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ProvisionError(f"{what}: no result after {INSTALL_TIMEOUT} s") from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        full = cache_dir("logs") / f"install-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{id(done):x}.log"
        full.write_text(f"$ {' '.join(command)}\n{output}\n")
        tail = "\n".join("  " + line for line in output.splitlines()[-20:])
        raise ProvisionError(f"{what} failed (exit {done.returncode}):\n{tail}\nFull log: {full}")
    return done.stdout


# --------------------------------------------------------------------------
# Book environments


def book_env_dir(name: str) -> Path:
    """``envs/<name>-<lock digest>``: what this clone's lock asks for, shared by clones that agree.

    An environment with a NumPy built here is keyed by what that build depends on instead.
    """
    env = BOOK_ENVS[name]
    if env.sanitized_numpy:
        from ftbook.provision import instrumented  # it reads the sdist pins, which need the project's locks

        locked = f"-{digest(env.lock.path)}" if env.lock else ""
        return cache_dir("envs") / f"{name}-{instrumented.build_key(env.sanitized_numpy)}{locked}"
    return cache_dir("envs") / f"{name}-{digest(env.lock.path)}"


def prepare_book_env(name: str, *, log: Log = print) -> Path:
    """Find or build the interpreter, then make the environment. For nox."""
    env = BOOK_ENVS[name]
    base = find_or_build(env.interpreter, log=log)
    installer = find_or_build(env.pip_from, log=log) if env.pip_from else None
    if installer is not None and get_spec(env.interpreter).tsan:
        byte_compile_stdlib(base, installer, log=log)
    wheels = ()
    if env.sanitized_numpy:
        from ftbook.provision import instrumented

        wheels = (instrumented.instrumented_wheel(env.sanitized_numpy, log=log),)
    return ensure_venv(book_env_dir(name), base, env.lock.path if env.lock else None, wheels=wheels,
                       installer=installer, log=log, label=f"{name} ({env.purpose})")


STDLIB_COMPILED = ".ftbook-stdlib-compiled"  # in an interpreter's prefix: its stdlib has its .pyc files


def byte_compile_stdlib(python: Path, compiler: Path, *, log: Log = print) -> None:
    """Give *python*'s standard library its ``.pyc`` files, compiled by *compiler* (once per interpreter).

    The TSAN interpreter's ``make install`` skips byte-compiling (it would
    run under ThreadSanitizer; see ``interpreters.py``), so each module is
    compiled on first import and cached then, unless ``PYTHONDONTWRITEBYTECODE``
    is set (as on this book's build machines): then every TSAN process
    compiled ``inspect``, ``ast``, ``dataclasses``... again, and ``import
    pytest`` took 16 s (2026-12-06). The plain interpreter of the same
    release writes the same files (same magic number and cache tag) in about
    1.5 s. Each ``.pyc`` is written under a unique name and renamed into
    place (``py_compile``), so two sessions doing this at once would be safe,
    but the work would be done twice (three TSAN environments start at once
    on a first build): the job's owner is the lock named after the prefix,
    and the marker is written last.
    """
    prefix = python.parent.parent
    marker = prefix / STDLIB_COMPILED
    if marker.is_file():
        return
    with exclusive(f"stdlib-compiled-{prefix.name}", log):
        if marker.is_file():  # compiled by the chain or session we waited for
            return
        started = time.monotonic()
        stdlib = prefix / "lib" / python.name  # lib/python3.14t
        done = subprocess.run([str(compiler), "-m", "compileall", "-q", "-j0", "-o", "0", str(stdlib)],
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            said = (done.stdout + done.stderr).strip().splitlines()[-5:]
            raise ProvisionError(f"byte-compiling {stdlib} with {compiler} failed: {' / '.join(said)}")
        atomic_write_text(marker, f"{compiler}\n")
        log(f"==> byte-compiled the standard library of {python} in "
            f"{format_seconds(time.monotonic() - started)}")


def book_env_python(name: str) -> Path:
    """The python of a prepared book environment. For chapters and tests.

    Never builds anything: a chapter that needs an environment must not start
    a 10-minute build in the middle of a notebook. ``nox -s docs`` prepares
    them all first.
    """
    if name not in BOOK_ENVS:
        raise ProvisionError(f"unknown book environment {name!r}; known: {', '.join(BOOK_ENVS)}")
    check_declared(DECLARED_ENVS, name)
    python = venv_python(book_env_dir(name))
    if not python.exists() or not (book_env_dir(name) / STAMP).is_file():
        raise ProvisionError(
            f"the book environment {name!r} ({BOOK_ENVS[name].purpose}) is not prepared.\n"
            "Run `nox -s docs` (or `python -m ftbook env " + name + "`), which prepares it."
        )
    return python
