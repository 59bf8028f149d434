"""NumPy built with ThreadSanitizer from its released sdist, for the TSAN interpreter.

NumPy's own TSAN job builds NumPy with ``-Db_sanitize=thread`` on a CPython
configured ``--with-thread-sanitizer`` (v2.2.3's
``.github/workflows/compiler_sanitizers.yml``, job ``clang_TSAN``). This
module does the same with the book's pieces: the release's sdist (SHA-256
pinned, :mod:`ftbook.provision.sources`), built by the plain 3.14t with
pinned build tools (``requirements/numpy-build.txt``: meson-python, Cython,
ninja; NumPy brings its own meson), into a wheel the 3.14t TSAN interpreter
installs: same version, same ABI. Two flags differ from NumPy's job, both
for build time on two cores: ``-Dbuildtype=debugoptimized`` (NumPy's spin
defaults to a release build) and ``-Ddisable-optimization=true`` (no SIMD
variants: the metadata code they race in is not SIMD code). The compiler is
the one that built the TSAN interpreter (gcc here; NumPy's job used clang),
because the two must share one ThreadSanitizer runtime.

A wheel is cached under a key of the release, the flags, the build tools'
lock, the compiler and the interpreter, and made once per machine. Releases
of one series share a source tree and a build folder: the first is built in
full; the next *steps* to it, replacing only the files in which the two
sdists differ (with a fresh time stamp, so ninja sees them change) and
rebuilding what depends on them, then checking that the tree now equals the
next sdist file by file. The series' owner is the lock named after it; a
wheel appears in its final folder by one rename.

A *patched* release (``"2.5.5-patched"``) is the release's sdist with the
book's patches applied (``patches/numpy-2.5.5/*.patch``, in name order, with
``patch -p1`` and no fuzz), kept as its own source folder; it is one more
step in the series, so only the files the patches touch are recompiled. Its
key includes every patch's digest: an edited patch is a new build.

    wheel = instrumented_wheel("2.2.2")        # builds (or finds) it
    wheel = instrumented_wheel("2.5.5-patched")  # 2.5.5 with patches/numpy-2.5.5 applied
"""

from __future__ import annotations

import filecmp
import functools
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from ftbook import ProvisionError
from ftbook.provision.cache import atomic_write_text, cache_dir, exclusive, format_seconds
from ftbook.provision.interpreters import Log, find_or_build, get_spec
from ftbook.provision.locks import ROOT, digest, lock_path
from ftbook.provision.sources import NUMPY_SDISTS, numpy_sdist, sdist_dir

BUILDER = "3.14t"  # the interpreter that runs the build
TARGET = "3.14t-tsan"  # the interpreter that imports the result
BUILD_TOOLS = "numpy-build"  # requirements/numpy-build.txt
MESON_ARGS = ("-Db_sanitize=thread", "-Dbuildtype=debugoptimized", "-Ddisable-optimization=true")
COMPILER, CXX_COMPILER = "gcc", "g++"
BUILD_TIMEOUT = 40 * 60
DONE = ".ftbook-wheel"  # in a wheel's folder: written last, names the wheel
AT = ".ftbook-release"  # in a series' source tree: the release it holds
PATCHED = "-patched"  # "2.5.5-patched": the release with the book's patches to it
PATCHES = ROOT / "patches"  # patches/numpy-<release>/NNNN-name.patch
PATCH_COMMAND = ("patch", "-p1", "--fuzz=0", "--forward", "--batch", "--no-backup-if-mismatch")
APPLIED = ".ftbook-patched"  # in a patched source folder: written last, lists the patches applied


def release_of(version: str) -> str:
    """The NumPy release a build is of: ``"2.5.5-patched"`` -> ``"2.5.5"``."""
    return version.removesuffix(PATCHED)


def patches_of(version: str) -> list[Path]:
    """The patches a build applies, in order: none for a release; a patched release's, at least one."""
    if not version.endswith(PATCHED):
        return []
    found = sorted((PATCHES / f"numpy-{release_of(version)}").glob("*.patch"))
    if not found:
        raise ProvisionError(f"NumPy {version}: no patches in {PATCHES / f'numpy-{release_of(version)}'}")
    return found


def series_of(version: str) -> str:
    return ".".join(release_of(version).split(".")[:2])


@functools.cache
def _compiler_version() -> str:
    """The first line of ``gcc --version`` (the key); g++ must answer too: NumPy has C++ code."""
    try:
        said = [subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30,
                               check=True).stdout.splitlines()[0] for compiler in (COMPILER, CXX_COMPILER)]
        return said[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        raise ProvisionError(f"building NumPy with ThreadSanitizer needs {COMPILER} and {CXX_COMPILER}; "
                             "install them (apt-get install gcc g++)") from None


def build_key(version: str | None) -> str:
    """What a wheel depends on, digested; *version* None: the part a series shares. Builds nothing."""
    parts = [" ".join(MESON_ARGS), digest(lock_path(BUILD_TOOLS)), _compiler_version(),
             get_spec(BUILDER).install_name, get_spec(TARGET).install_name]
    if version is not None:
        parts.append(f"{version} {NUMPY_SDISTS[release_of(version)]}")
        parts += [f"{patch.name} {digest(patch)}" for patch in patches_of(version)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def wheel_dir(version: str) -> Path:
    return cache_dir("instrumented") / f"numpy-{version}-tsan-{build_key(version)}"


def built_wheel(version: str) -> Path | None:
    """The cached wheel of *version*, if it was made; builds nothing."""
    done = wheel_dir(version) / DONE
    return done.parent / done.read_text().strip() if done.is_file() else None


def instrumented_wheel(version: str, *, log: Log = print) -> Path:
    """NumPy *version* built with ThreadSanitizer: the cached wheel, or a new one (minutes)."""
    if release_of(version) not in NUMPY_SDISTS:
        raise ProvisionError(f"NumPy {release_of(version)} has no pinned sdist "
                             "(requirements/numpy-sdists.txt)")
    found, patched = built_wheel(version), bool(patches_of(version))
    if found and not patched:
        return found
    sdist = numpy_sdist(release_of(version), log=log)
    if patched:  # kept beside the wheel, even one already built: the patched tests run from it
        sdist = patched_source(version, sdist, log=log)
    if found:
        return found
    tools = _build_tools(log)
    series = cache_dir("instrumented") / f"series-{series_of(version)}-{build_key(None)}"
    with exclusive(f"instrumented-{series.name}", log):
        found = built_wheel(version)  # another chain may have made it while we waited
        if found:
            return found
        started = time.monotonic()
        tree, build = series / "src", series / "build"
        at = (tree / AT).read_text().strip() if (tree / AT).is_file() else None
        if at:
            changed = step_tree(tree, sdist)
            log(f"==> building NumPy {version} with ThreadSanitizer: stepping from {at}, "
                f"{changed} files differ (about a minute)")
        else:
            log(f"==> building NumPy {version} with ThreadSanitizer: in full, once per machine "
                "(about 7 minutes on 2 cores)")
            shutil.rmtree(series, ignore_errors=True)
            series.mkdir(parents=True)
            shutil.copytree(sdist, tree)
        (tree / AT).unlink(missing_ok=True)
        differences = tree_differences(tree, sdist)
        if differences:
            raise ProvisionError(f"the source tree in {tree} does not match NumPy {version}'s sources "
                                 f"({', '.join(differences[:5])}); delete {series} and run again")
        wheel = _build(tools, tree, build, version)
        atomic_write_text(tree / AT, version + "\n")
        log(f"==> NumPy {version} with ThreadSanitizer ready in {format_seconds(time.monotonic() - started)}")
        return wheel


def _applied(patches: list[Path]) -> str:
    """What a patched source folder's marker says: each patch applied, with its digest."""
    return "".join(f"{patch.name} {digest(patch)}\n" for patch in patches)


def patched_source_dir(version: str) -> Path:
    """Where *version*'s patched sources are (or will be), named by its patches' digest; builds nothing."""
    key = hashlib.sha256(_applied(patches_of(version)).encode()).hexdigest()[:12]
    return sdist_dir(release_of(version)).parent / f"numpy-{version}-{key}"


def patched_source(version: str, sdist: Path, *, log: Log = print) -> Path:
    """*sdist* with *version*'s patches applied, in its own cached folder (made once, then found).

    Made under a unique temporary name and renamed into place, under the
    lock named after it; a patch that does not apply exactly is refused
    with patch's own words, and nothing is kept.
    """
    patches = patches_of(version)
    applied = _applied(patches)
    target = sdist.parent / patched_source_dir(version).name
    if (target / APPLIED).is_file():
        return target
    if shutil.which(PATCH_COMMAND[0]) is None:
        raise ProvisionError(f"NumPy {version} needs the patch program "
                             "(Debian/Ubuntu: apt-get install patch)")
    with exclusive(f"numpy-sources-{target.name}", log):
        if (target / APPLIED).is_file():  # another session made it while we waited
            return target
        staging = target.with_name(f"{target.name}.part-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(sdist, staging)
        for patch in patches:
            done = subprocess.run([*PATCH_COMMAND, "-i", str(patch)], cwd=staging, capture_output=True,
                                  text=True, timeout=60)
            if done.returncode != 0:
                shutil.rmtree(staging, ignore_errors=True)
                said = " ".join((done.stdout + done.stderr).split())
                raise ProvisionError(f"{patch.parent.name}/{patch.name} does not apply to NumPy "
                                     f"{release_of(version)}'s sdist: {said}")
        atomic_write_text(staging / APPLIED, applied)
        os.replace(staging, target)
        log(f"==> NumPy {release_of(version)} sources with {len(patches)} patches "
            f"({PATCHES.name}/numpy-{release_of(version)}) in {target}")
    return target


def _files(root: Path) -> set[Path]:
    """Every file under *root*, relative to it, but the markers of a series' tree and a patched source."""
    return {path.relative_to(root) for path in root.rglob("*") if path.is_file()} - {Path(AT), Path(APPLIED)}


def step_tree(tree: Path, sdist: Path) -> int:
    """Make *tree* hold exactly *sdist*'s files: copy those that differ (stamped now), delete the rest."""
    wanted, have = _files(sdist), _files(tree)
    changed = 0
    for relative in have - wanted:
        (tree / relative).unlink()
        changed += 1
    for relative in sorted(wanted):
        target = tree / relative
        if target.is_file() and filecmp.cmp(sdist / relative, target, shallow=False):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sdist / relative, target)  # not copy2: the sdist's old time stamp would hide it
        changed += 1
    return changed


def tree_differences(tree: Path, sdist: Path) -> list[str]:
    """The files in which *tree* and *sdist* differ (missing, extra, other contents); [] when equal."""
    wanted, have = _files(sdist), _files(tree)
    differ = [str(p) for p in sorted(wanted & have) if not filecmp.cmp(sdist / p, tree / p, shallow=False)]
    return sorted(map(str, wanted ^ have)) + differ


def _build_tools(log: Log) -> Path:
    """An environment of the plain 3.14t with the pinned build tools; its python (it has no pip)."""
    from ftbook.provision.envs import ensure_venv

    lock = lock_path(BUILD_TOOLS)
    return ensure_venv(cache_dir("envs") / f"{BUILD_TOOLS}-{digest(lock)}", find_or_build(BUILDER, log=log),
                       lock, log=log, label=f"{BUILD_TOOLS} (meson-python, Cython, ninja)")


def _build(tools: Path, tree: Path, build: Path, version: str) -> Path:
    """``pip wheel`` *tree* into a new folder, renamed into place when the wheel is there."""
    final = wheel_dir(version)
    staging = final.with_name(f"{final.name}.part-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    # The builder's pip, run for the tools' environment (--python): the build backend is imported there.
    builder = find_or_build(BUILDER, log=lambda _: None)
    command = [str(builder), "-m", "pip", "--python", str(tools), "wheel", "--no-build-isolation",
               "--no-deps", "--disable-pip-version-check", "-w", str(staging), f"-Cbuild-dir={build}",
               *(f"-Csetup-args={arg}" for arg in MESON_ARGS), str(tree)]
    environment = {**os.environ, "CC": COMPILER, "CXX": CXX_COMPILER,
                   "PATH": f"{tools.parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # cython, ninja
    log_file = cache_dir("logs") / f"instrumented-numpy-{version}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    try:
        with open(log_file, "w") as out:
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=environment,
                                  timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ProvisionError(f"building NumPy {version} with ThreadSanitizer took over "
                             f"{BUILD_TIMEOUT // 60} minutes; see {log_file}") from None
    wheels = list(staging.glob("numpy-*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        tail = "\n".join("  " + line for line in log_file.read_text().splitlines()[-15:])
        raise ProvisionError(f"building NumPy {version} with ThreadSanitizer failed:\n{tail}\n"
                             f"Full log: {log_file}")
    atomic_write_text(staging / DONE, wheels[0].name + "\n")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    return final / wheels[0].name
