"""Find or build the free-threaded CPython interpreters the book runs on.

Three interpreters, each looked for in this order:

1. the environment variable named in its spec (an explicit choice always wins,
   and a wrong one is an error rather than something silently skipped);
2. an executable on ``PATH`` (``python3.14t``, ...);
3. a uv-managed interpreter that ``uv`` already has (``uv python find``);
4. our own earlier build in the cache;
5. a uv-managed interpreter that ``uv python install`` can download;
6. a new build from the CPython source tarball, pinned by version and
   SHA-256 and fetched from python.org or from the Debian archive this
   machine's apt is configured with.

Steps 3 and 4 are local and quick; 5 and 6 need the network, so they come
last (where uv's download host is unreachable, its attempt alone took 30 s).

Every candidate is checked before it is used: right ``major.minor``, built
with ``Py_GIL_DISABLED`` and, for the ThreadSanitizer interpreter, configured
``--with-thread-sanitizer``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ftbook import ProvisionError
from ftbook.provision.cache import (
    FetchFailed,
    atomic_write_text,
    cache_dir,
    exclusive,
    fetch_verified,
    format_seconds,
    safe_extract,
)

Log = Callable[[str], None]

COMPLETE_MARKER = ".ftbook-complete.json"
DOWNLOAD_TIMEOUT = 60  # seconds per attempt; a dead mirror must not hang a build
BUILD_STEP_TIMEOUT = 60 * 60  # a TSAN build takes ~10 min on 2 cores
HEARTBEAT = 60  # seconds between "still building" lines


@dataclasses.dataclass(frozen=True)
class InterpreterSpec:
    key: str  # what the rest of the project calls it: "3.14t"
    description: str
    version: str  # the release we build from source when nothing else is found
    sha256: str  # of Python-<version>.tar.xz
    configure_args: tuple[str, ...]
    env_var: str
    # Extra variables for `make install` (the TSAN build uses one to skip
    # byte-compiling the standard library with an instrumented interpreter).
    install_args: tuple[str, ...] = ()
    path_names: tuple[str, ...] = ()
    uv_request: str | None = None
    tsan: bool = False
    expected_build_minutes: int = 3
    # Standard-library modules (keys of REQUIRED_MODULES) a candidate must have.
    needs_modules: tuple[str, ...] = ("ssl", "sqlite3", "zlib")

    @property
    def configure_summary(self) -> str:
        """The configure arguments, with the skipped modules counted rather than listed."""
        skipped = [arg for arg in self.configure_args if arg.startswith("py_cv_module_")]
        shown = [arg if " " not in arg else repr(arg) for arg in self.configure_args if arg not in skipped]
        return " ".join(shown) + (f" (+ {len(skipped)} unused modules left out)" if skipped else "")

    @property
    def series(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def install_name(self) -> str:
        """Folder name in the cache; changes whenever what we build changes.

        The hash covers the build options, so a changed option makes a new
        build next to the old one instead of trusting a build made otherwise.
        """
        flavour = "freethreaded-tsan" if self.tsan else "freethreaded"
        options = hashlib.sha256(repr((self.configure_args, self.install_args)).encode()).hexdigest()[:8]
        return f"cpython-{self.version}-{flavour}-{options}"

    def source_urls(self, apt_bases: Sequence[str]) -> list[str]:
        return cpython_tarball_urls(self.version, apt_bases)


def cpython_tarball_urls(version: str, apt_bases: Sequence[str]) -> list[str]:
    """Where ``Python-<version>.tar.xz`` is: python.org, then Debian's "orig" tarball on each apt archive.

    A pre-release ("3.15.0rc2") is in python.org's folder of its final
    release, and Debian spells it with a tilde ("3.15.0~rc2").
    """
    final = re.match(r"\d+\.\d+\.\d+", version).group()
    series = ".".join(final.split(".")[:2])
    upstream = f"https://www.python.org/ftp/python/{final}/Python-{version}.tar.xz"
    debian_version = final + (f"~{version[len(final):]}" if version != final else "")
    debian_path = f"pool/main/p/python{series}/python{series}_{debian_version}.orig.tar.xz"
    return [upstream, *(f"{base.rstrip('/')}/{debian_path}" for base in apt_bases)]


# Every build leaves out the test suite and its C test modules (_testcapi and
# friends), and the extension modules nothing in the book imports: curses,
# dbm, tkinter, the CJK codecs, _decimal (`decimal` falls back to its
# pure-Python twin), the remote debugger, the xx* demos. Configure's
# py_cv_module_<name>=n/a skips a module. Left out, they are a good part of
# the compile and of the byte-compiling that `make install` does.
UNUSED_MODULES = (
    "_curses", "_curses_panel", "_dbm", "_gdbm", "_tkinter", "readline",
    "_codecs_cn", "_codecs_hk", "_codecs_iso2022", "_codecs_jp", "_codecs_kr", "_codecs_tw",
    "_multibytecodec", "_decimal", "_remote_debugging", "_ctypes_test", "_testbuffer",
    "xxlimited", "xxlimited_35", "xxsubtype", "nis", "spwd",
)
LEAN = ("--disable-test-modules", *(f"py_cv_module_{name}=n/a" for name in UNUSED_MODULES))
# configure's default OPT is "-g -O3 -Wall". The plain builds leave out the
# debug information (nothing reads their line tables): a quarter less compile
# time, measured on Python/ceval.c and Objects/dictobject.c with gcc 12. The
# TSAN build keeps -g, so that its reports name CPython's source lines, and
# compiles at -O1, which compiled ceval.c with -fsanitize=thread in 43% less
# time than -O3 (the instrumented interpreter only runs the examples).
NO_DEBUG_INFO = ("OPT=-O3 -Wall",)
TSAN_OPT = ("OPT=-g -O1 -Wall",)
# `make install` byte-compiles the whole standard library three times (-o 0,
# 1, 2); `-l` keeps it to the top level of Lib/, and the packages the book
# imports are compiled on first import instead (atomically, by importlib).
LEAN_INSTALL = ("COMPILEALL_OPTS=-j0 -l",)

INTERPRETERS: dict[str, InterpreterSpec] = {
    spec.key: spec
    for spec in (
        InterpreterSpec(
            key="3.14t",
            description="free-threaded CPython 3.14 (the book's kernel and examples)",
            version="3.14.7",
            sha256="3b48dac8fb59f62eaa67ac83c1eb12bda1b7a08406dd286e252c11a66be27f81",
            configure_args=("--disable-gil", *LEAN, *NO_DEBUG_INFO),
            install_args=LEAN_INSTALL,
            env_var="FTBOOK_PYTHON_314T",
            path_names=("python3.14t",),
            uv_request="cpython-3.14+freethreaded",
            expected_build_minutes=3,
        ),
        InterpreterSpec(
            key="3.13t",
            description="free-threaded CPython 3.13 (NumPy 2.2.2, which has the bug, has wheels only for it)",
            version="3.13.5",
            sha256="93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640",
            # It runs pip and the examples on the old NumPy releases: no sqlite3.
            configure_args=("--disable-gil", *LEAN, *NO_DEBUG_INFO, "py_cv_module__sqlite3=n/a"),
            install_args=LEAN_INSTALL,
            env_var="FTBOOK_PYTHON_313T",
            path_names=("python3.13t",),
            uv_request="cpython-3.13+freethreaded",
            expected_build_minutes=3,
            needs_modules=("ssl", "zlib"),
        ),
        InterpreterSpec(
            key="3.14t-tsan",
            description="free-threaded CPython 3.14 built with ThreadSanitizer",
            version="3.14.7",
            sha256="3b48dac8fb59f62eaa67ac83c1eb12bda1b7a08406dd286e252c11a66be27f81",
            # No pip in it: its environment is filled by the plain 3.14t's pip
            # (same cp314t wheels), because pip under TSAN takes minutes.
            # It runs the examples alone, never pip or a download: no ssl, no sqlite3.
            configure_args=("--disable-gil", "--with-thread-sanitizer", *LEAN, *TSAN_OPT,
                            "--without-ensurepip", "py_cv_module__ssl=n/a", "py_cv_module__sqlite3=n/a"),
            # `make install` runs $(PYTHON_FOR_BUILD) -- the instrumented
            # interpreter just built -- for one thing only: byte-compiling the
            # standard library at three optimisation levels, which took about
            # 12 of the old 17-minute build. `true` skips it; modules are
            # compiled on first import instead, and only those used.
            install_args=("PYTHON_FOR_BUILD=true",),
            env_var="FTBOOK_PYTHON_314T_TSAN",
            tsan=True,
            expected_build_minutes=6,
            needs_modules=(),
        ),
    )
}


def get_spec(key: str) -> InterpreterSpec:
    try:
        return INTERPRETERS[key]
    except KeyError:
        known = ", ".join(INTERPRETERS)
        raise ProvisionError(f"unknown interpreter {key!r}; known: {known}") from None


# --------------------------------------------------------------------------
# Checking a candidate

# Standard-library modules the project cannot do without, and the Debian
# package whose headers CPython's build needs for each. A source build on a
# machine without those headers still succeeds, silently without the module,
# and then fails much later and far less clearly (pip cannot reach PyPI
# without ssl; jupyter-cache stores executed chapters in sqlite3).
REQUIRED_MODULES = {"ssl": "libssl-dev", "sqlite3": "libsqlite3-dev", "zlib": "zlib1g-dev"}

_PROBE = r"""
import importlib, json, sys, sysconfig
missing = []
for name in REQUIRED_NAMES:
    try:
        importlib.import_module(name)
    except ImportError:
        missing.append(name)
print(json.dumps({
    "executable": sys.executable,
    "version": list(sys.version_info[:3]),
    "gil_disabled_build": sysconfig.get_config_var("Py_GIL_DISABLED") == 1,
    "tsan": "--with-thread-sanitizer" in (sysconfig.get_config_var("CONFIG_ARGS") or ""),
    "missing_modules": missing,
}))
""".replace("REQUIRED_NAMES", repr(sorted(REQUIRED_MODULES)))


# What each interpreter file answered, for this process: a provisioning run asks an interpreter once,
# however many environments and chains it serves (the TSAN interpreter takes ~0.8 s to start, and the
# docs session used to ask it six times). Keyed by the file's identity, so a rebuilt or rewritten
# interpreter is asked again. _probed_lock owns both dicts; each file's own lock makes its callers wait
# for one answer rather than all starting the interpreter at once.
_probed: dict[tuple, dict] = {}
_probing: dict[tuple, threading.Lock] = {}
_probed_lock = threading.Lock()


def probe(python: str | os.PathLike[str]) -> dict:
    """Ask *python* what it is (once per process and interpreter file). Raises ``ProvisionError`` if it cannot
    answer; a failed answer is not remembered."""
    try:
        found = os.stat(python)
    except OSError:
        return _ask(python)  # it says why, in the words of a failed run
    identity = (os.path.realpath(python), found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)
    with _probed_lock:
        own = _probing.setdefault(identity, threading.Lock())
    with own:
        with _probed_lock:
            known = _probed.get(identity)
        if known is None:
            known = _ask(python)
            with _probed_lock:
                _probed[identity] = known
    return dict(known)


def _ask(python: str | os.PathLike[str]) -> dict:
    try:
        done = subprocess.run(
            [os.fspath(python), "-I", "-c", _PROBE], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ProvisionError(f"{python} could not be run: {error}") from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ProvisionError(f"{python} exited with status {done.returncode}: {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def mismatch(spec: InterpreterSpec, python: str | os.PathLike[str]) -> str | None:
    """Why *python* will not do for *spec*, or ``None`` if it will."""
    try:
        info = probe(python)
    except ProvisionError as error:
        return str(error)
    series = ".".join(map(str, info["version"][:2]))
    if series != spec.series:
        return f"it is Python {series}, not {spec.series}"
    if not info["gil_disabled_build"]:
        return "it is not a free-threaded build (Py_GIL_DISABLED is not 1)"
    if spec.tsan and not info["tsan"]:
        return "it was not configured --with-thread-sanitizer"
    missing = [name for name in info.get("missing_modules", []) if name in spec.needs_modules]
    if missing:
        packages = " ".join(REQUIRED_MODULES[name] for name in missing)
        return (f"it lacks the standard-library module(s) {', '.join(missing)}, built only when their "
                f"development headers are installed (Debian/Ubuntu: apt-get install {packages})")
    return None


# --------------------------------------------------------------------------
# Resolution


def find_or_build(key: str, *, log: Log = print, sources: Sequence[str] | None = None) -> Path:
    """Return a checked interpreter for *key*, building it if nothing else is found.

    *sources* replaces the download URLs (tests use ``file://`` URLs).
    """
    spec = get_spec(key)
    tried: list[str] = []

    explicit = os.environ.get(spec.env_var)
    if explicit:
        python = shutil.which(explicit) or explicit
        problem = mismatch(spec, python)
        if problem:
            raise ProvisionError(
                f"${spec.env_var} is set to {explicit!r}, but {problem}.\n"
                f"Point it at a {spec.description}, or unset it to let the project find or build one."
            )
        return Path(python)
    tried.append(f"${spec.env_var}: not set")

    for name in spec.path_names:
        found = shutil.which(name)
        if not found:
            tried.append(f"PATH: no {name}")
            continue
        problem = mismatch(spec, found)
        if problem is None:
            return Path(found)
        tried.append(f"PATH: {found}: {problem}")

    found = _from_uv(spec, tried, log, install=False) or _cached(spec, tried)
    if found:
        return found
    return _from_uv(spec, tried, log, install=True) or _cached_or_built(spec, tried, log, sources)


def _cached(spec: InterpreterSpec, tried: list[str]) -> Path | None:
    """Our own complete, working build of *spec*, if there is one (no lock: only reads)."""
    python = installed_python(spec)
    if (python.parent.parent / COMPLETE_MARKER).exists() and mismatch(spec, python) is None:
        return python
    tried.append("no complete build in the cache")
    return None


def _from_uv(spec: InterpreterSpec, tried: list[str], log: Log, *, install: bool) -> Path | None:
    """An interpreter uv already has (``install=False``) or can download (``install=True``)."""
    uv = shutil.which("uv") if spec.uv_request else None
    if uv is None:
        if spec.uv_request and not install:
            tried.append("uv: not installed")
        return None
    find = [uv, "python", "find", spec.uv_request]
    try:
        if install:
            log(f"==> asking uv to install {spec.uv_request} (needs its download host)")
            installed = subprocess.run([uv, "python", "install", spec.uv_request],
                                       capture_output=True, text=True, timeout=300)
            if installed.returncode != 0:
                reason = (installed.stderr.strip().splitlines() or ["failed"])[-1]
                tried.append(f"uv python install: {reason}")
                return None
        done = subprocess.run(find, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        tried.append(f"uv: {error}")
        return None
    candidate = done.stdout.strip()
    if done.returncode != 0 or not candidate:
        tried.append(f"uv python find: {(done.stderr.strip().splitlines() or ['nothing found'])[-1]}")
        return None
    problem = mismatch(spec, candidate)
    if problem:
        tried.append(f"uv: {candidate}: {problem}")
        return None
    return Path(candidate)


def installed_python(spec: InterpreterSpec) -> Path:
    """Where our own build of *spec* lives (whether or not it exists yet)."""
    return cache_dir("pythons") / spec.install_name / "bin" / f"python{spec.series}t"


def _cached_or_built(
    spec: InterpreterSpec, tried: list[str], log: Log, sources: Sequence[str] | None
) -> Path:
    python = installed_python(spec)
    prefix = python.parent.parent
    with exclusive(spec.install_name, log):
        if (prefix / COMPLETE_MARKER).exists():
            problem = mismatch(spec, python)
            if problem is None:
                return python
            log(f"==> the cached build in {prefix} is broken ({problem}); rebuilding it")
        if prefix.exists():  # a build that died half-way, or a broken one
            shutil.rmtree(prefix)
        why = "; ".join(tried)
        build(spec, prefix, log=log, why=why, sources=sources)
    return python


# --------------------------------------------------------------------------
# Building from source


def apt_archive_bases(etc_apt: Path = Path("/etc/apt")) -> list[str]:
    """The archive base URLs apt is configured with, in the order apt lists them.

    Reads both the one-line ``.list`` format and the deb822 ``.sources``
    format. Files apt itself ignores (other suffixes) and stanzas with
    ``Enabled: no`` are skipped.
    """
    files = [etc_apt / "sources.list"]
    parts = etc_apt / "sources.list.d"
    if parts.is_dir():
        files += sorted(p for p in parts.iterdir() if p.suffix in (".list", ".sources"))
    bases: list[str] = []
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        found = _deb822_uris(text) if path.suffix == ".sources" else _one_line_uris(text)
        for uri in found:
            if uri not in bases:
                bases.append(uri)
    return bases


def _one_line_uris(text: str) -> list[str]:
    uris = []
    for line in text.splitlines():
        line = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
        if len(line) >= 2 and line[0] in ("deb", "deb-src") and "://" in line[1]:
            uris.append(line[1])
    return uris


def _deb822_uris(text: str) -> list[str]:
    uris = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            name, value = line.split(":", 1)
            fields[name.strip().lower()] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        uris += [uri for uri in fields.get("uris", "").split() if "://" in uri]
    return uris


def fetch_source(spec: InterpreterSpec, *, log: Log, sources: Sequence[str] | None = None) -> Path:
    """The verified source tarball for *spec*, downloaded if not already cached."""
    return fetch_cpython_tarball(
        spec.version, spec.sha256, log=log, sources=sources, purpose=spec.description,
        advice=f"Either make one of those reachable, or set ${spec.env_var} to an interpreter "
               "you already have.")


def fetch_cpython_tarball(
    version: str, sha256: str, *, log: Log, purpose: str, advice: str, sources: Sequence[str] | None = None
) -> Path:
    """``Python-<version>.tar.xz`` with SHA-256 *sha256*, from the cache or the first source that has it."""
    target = cache_dir("downloads") / f"Python-{version}.tar.xz"
    urls = list(sources) if sources is not None else cpython_tarball_urls(version, apt_archive_bases())
    try:
        return fetch_verified(target, sha256, urls, timeout=DOWNLOAD_TIMEOUT, log=log)
    except FetchFailed as failed:
        raise ProvisionError(
            f"could not obtain the source of CPython {version} (for {purpose}).\n"
            "Tried:\n" + "\n".join(failed.attempts or ["  (no source URLs: apt has no archive configured)"])
            + f"\n{advice}"
        ) from None


def build(
    spec: InterpreterSpec, prefix: Path, *, log: Log, why: str, sources: Sequence[str] | None = None
) -> None:
    """Build *spec* from source and install it at *prefix*, all or nothing.

    ``make install`` goes into a staging folder (``DESTDIR``) first; only a
    finished, checked installation is renamed into place, so an interrupted
    or failed build never leaves a half-installed interpreter behind.
    """
    tarball = fetch_source(spec, log=log, sources=sources)
    jobs = os.cpu_count() or 1
    log(
        f"==> building CPython {spec.version} ({spec.configure_summary}) into {prefix}\n"
        f"    why: {why}\n"
        f"    expect about {spec.expected_build_minutes} min on 2 cores; this happens once per machine"
    )
    started = time.monotonic()
    logs = cache_dir("logs")
    build_log = logs / f"{spec.install_name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    reap_abandoned_builds(spec, log)
    with tempfile.TemporaryDirectory(prefix=f"{spec.install_name}-", dir=cache_dir("tmp")) as work:
        work_dir = Path(work)
        with tarfile.open(tarball) as archive:
            safe_extract(archive, work_dir)
        source = next(p for p in work_dir.iterdir() if p.is_dir())
        stage = work_dir / "stage"
        steps = [
            ("configure", ["./configure", f"--prefix={prefix}", *spec.configure_args]),
            ("make", ["make", f"-j{jobs}"]),
            ("make install", ["make", "install", f"DESTDIR={stage}", *spec.install_args]),
        ]
        with open(build_log, "w") as out:
            for name, command in steps:
                _run_build_step(name, command, source, out, build_log, spec, log)
        staged = stage / prefix.relative_to(prefix.anchor)
        prefix.parent.mkdir(parents=True, exist_ok=True)
        staged.rename(prefix)
    python = prefix / "bin" / f"python{spec.series}t"
    problem = mismatch(spec, python)
    if problem:
        shutil.rmtree(prefix, ignore_errors=True)
        raise ProvisionError(
            f"the new build of CPython {spec.version} is unusable: {problem} (log: {build_log})")
    seconds = time.monotonic() - started
    atomic_write_text(  # last: a lock-free reader trusts a prefix only once this exists
        prefix / COMPLETE_MARKER,
        json.dumps(
            {"version": spec.version, "sha256": spec.sha256, "configure": spec.configure_args,
             "install": spec.install_args, "seconds": seconds},
            indent=1,
        )
    )
    log(f"==> built CPython {spec.version} ({spec.key}) in {format_seconds(seconds)}: {python}")


BUILD_GROUPS = ".build-process-groups"  # in a build's work folder: the process groups it started


def reap_abandoned_builds(spec: InterpreterSpec, log: Log) -> None:
    """Stop and delete the builds of *spec* whose session died (called holding *spec*'s lock).

    A session killed with SIGKILL cannot stop its ``make``: that keeps
    compiling on every core, into a folder no one will use, beside the new
    build. Each build step runs in a process group of its own, recorded in
    the work folder, so the next holder of the lock (no live session owns
    those folders any more) stops what is still running there, then deletes
    the folder. A group is stopped only if one of its processes still works
    inside that folder: a recycled group number is left alone.
    """
    for work in sorted(cache_dir("tmp").glob(f"{spec.install_name}-*")):
        stopped = 0
        try:
            groups = [int(line) for line in (work / BUILD_GROUPS).read_text().split()]
        except (OSError, ValueError):
            groups = []
        for group in groups:
            if _group_works_in(group, work):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)
                    stopped += 1
        shutil.rmtree(work, ignore_errors=True)
        log(f"==> removed an abandoned build in {work}"
            + (f" (stopped {stopped} process group(s) still compiling there)" if stopped else ""))


def _group_works_in(group: int, folder: Path) -> bool:
    """Whether a process of process group *group* has its working directory inside *folder* (Linux)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group and Path(os.readlink(stat.parent / "cwd")).is_relative_to(folder):
                return True
        except (OSError, IndexError, ValueError):
            continue
    return False


def _run_build_step(
    name: str, command: list[str], cwd: Path, out, build_log: Path, spec: InterpreterSpec, log: Log
) -> None:
    started = time.monotonic()
    out.write(f"\n$ {' '.join(command)}\n")
    out.flush()
    # A group of its own, so that the whole step (make and its compilers) can be
    # stopped together, now or by the next session if this one is killed.
    process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    with open(cwd.parent / BUILD_GROUPS, "a") as groups:
        groups.write(f"{process.pid}\n")
    try:
        while True:
            try:
                status = process.wait(timeout=HEARTBEAT)
                break
            except subprocess.TimeoutExpired:
                elapsed = time.monotonic() - started
                if elapsed > BUILD_STEP_TIMEOUT:
                    _stop_group(process)
                    status = "timed out"
                    break
                log(f"    {name}: still running ({format_seconds(elapsed)})")
    except BaseException:  # Ctrl-C no longer reaches a group of its own: stop it here
        _stop_group(process)
        raise
    if status != 0:
        out.flush()
        tail = "\n".join("    " + line for line in build_log.read_text(errors="replace").splitlines()[-15:])
        raise ProvisionError(
            f"building CPython {spec.version}: `{' '.join(command)}` failed ({status}).\n"
            f"Last lines of {build_log}:\n{tail}\n"
            "Nothing was installed. Fix the cause and run again, "
            f"or set ${spec.env_var} to an interpreter you already have."
        )
    log(f"    {name}: done in {format_seconds(time.monotonic() - started)}")


def _stop_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
