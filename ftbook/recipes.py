"""What the recipe pages of "Finding races" show, made from what the build itself ran.

A recipe shows the commands a reader types. The build runs the same thing
with additions of its own (a cache, flags that save build time, its own
wrapper), and the recipe's dropdown shows those. Both come from here, from
the build's own definitions, so that neither can drift from what ran:

- :func:`configure_line` and :func:`build_additions`: a free-threaded or a
  ThreadSanitizer CPython's ``./configure``, from the specs the book builds
  its interpreters from (:data:`ftbook.provision.interpreters.INTERPRETERS`);
  :func:`interpreter_record`, what the build's own build of one recorded;
- :func:`numpy_install_line`: NumPy built with ThreadSanitizer from its
  sdist by pip, with the Meson options a reader needs of those the book's
  build passes (:data:`ftbook.provision.instrumented.MESON_ARGS`);
- :func:`numpy_tsan_job`: NumPy's ThreadSanitizer CI job, quoted from a
  release's sdist (its container image, its ``spin build`` line, its
  ``TSAN_OPTIONS``, its ``spin test`` line), each with the line it is on.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import subprocess
from pathlib import Path

from ftbook.provision.instrumented import MESON_ARGS
from ftbook.provision.interpreters import COMPLETE_MARKER, INTERPRETERS
from ftbook.provision.sources import sdist_dir
from ftbook.quote import Quote, QuoteError, source_file

# The configure options a reader needs for each kind of interpreter; every other option of the
# book's specs saves build time or leaves out what the book does not use (build_additions).
READER_CONFIGURE = ("--disable-gil", "--with-thread-sanitizer")
READER_PREFIX = {"3.14t": "$HOME/python3.14t", "3.14t-tsan": "$HOME/python3.14t-tsan"}


def configure_line(key: str) -> str:
    """``./configure`` with the options a reader types for interpreter *key* (``"3.14t-tsan"``)."""
    spec = INTERPRETERS[key]
    needed = [option for option in spec.configure_args if option in READER_CONFIGURE]
    if "--disable-gil" not in needed:
        raise ValueError(f"the book's {key} is not configured --disable-gil: {spec.configure_args}")
    return f"./configure {' '.join(needed)} --prefix={READER_PREFIX[key]}"


def build_additions(key: str) -> list[str]:
    """The configure options the book's build of *key* adds to :func:`configure_line`'s."""
    return [option for option in INTERPRETERS[key].configure_args if option not in READER_CONFIGURE]


def tarball_url(key: str) -> str:
    """Where python.org serves the source tarball the book builds *key* from."""
    version = INTERPRETERS[key].version
    return f"https://www.python.org/ftp/python/{version}/Python-{version}.tar.xz"


@dataclasses.dataclass(frozen=True)
class InterpreterRecord:
    """The interpreter a book environment runs on, and the record of the build's own build of it."""

    python: str  # the interpreter's own executable (sys._base_executable), not a venv's
    prefix: Path
    built: dict | None  # the build's record (COMPLETE_MARKER): None when the build found it elsewhere

    @property
    def configure(self) -> str | None:
        """The ``./configure`` line that build ran, exactly (its cache's prefix included)."""
        if self.built is None:
            return None
        return shlex.join(["./configure", f"--prefix={self.prefix}", *self.built["configure"]])


def interpreter_record(python: Path | str) -> InterpreterRecord:
    """Which interpreter *python* (a virtual environment's) is, and the build's record of it, if any."""
    where = "import sys; print(sys.base_prefix); print(sys._base_executable)"
    asked = subprocess.run([str(python), "-c", where], capture_output=True, text=True, timeout=60)
    if asked.returncode != 0:
        raise RuntimeError(f"{python} could not say where it lives: {asked.stderr.strip()[-500:]}")
    prefix, executable = asked.stdout.split("\n")[:2]
    marker = Path(prefix) / COMPLETE_MARKER
    built = json.loads(marker.read_text()) if marker.is_file() else None
    return InterpreterRecord(executable, Path(prefix), built)


# ------------------------------------------------------------------ NumPy built with ThreadSanitizer

# Of the build's Meson options, those a reader needs: the sanitizer, and debug information so that
# reports name NumPy's source lines. The rest save the book's build time (numpy_build_additions).
READER_MESON = ("-Db_sanitize=thread", "-Dbuildtype=debugoptimized")


def numpy_install_line(version: str) -> str:
    """``pip install`` of NumPy *version* from its sdist with ThreadSanitizer, as a reader types it."""
    needed = [option for option in MESON_ARGS if option in READER_MESON]
    if "-Db_sanitize=thread" not in needed:
        raise ValueError(f"the book builds NumPy without -Db_sanitize=thread: {MESON_ARGS}")
    options = " ".join(f"-Csetup-args={option}" for option in needed)
    return f"python -m pip install -v --no-build-isolation --no-binary=numpy {options} numpy=={version}"


def numpy_build_additions() -> list[str]:
    """The Meson options the book's NumPy builds add to :func:`numpy_install_line`'s."""
    return [option for option in MESON_ARGS if option not in READER_MESON]


# ------------------------------------------------------------------ NumPy's own ThreadSanitizer job

WORKFLOW = ".github/workflows/compiler_sanitizers.yml"


@dataclasses.dataclass(frozen=True)
class TsanJob:
    """NumPy's ``clang_TSAN`` job in one release's workflow, each step at its line."""

    version: str
    section: Quote  # the job, from its name to its test command
    image: Quote  # the container it runs in
    build: Quote  # "python -m spin build ... -Db_sanitize=thread"
    options: Quote  # the TSAN_OPTIONS line
    test: Quote  # the "python -m spin test" command, all its lines

    @property
    def tsan_options(self) -> dict[str, str]:
        """The job's ``TSAN_OPTIONS``; a path under the checkout is relative to its root."""
        value = re.search(r'TSAN_OPTIONS="([^"]+)"', self.options.text)
        if value is None:
            raise QuoteError(f"no TSAN_OPTIONS=\"...\" in {self.options.url}")
        pairs = (item.split("=", 1) for item in re.split(r"[: ]", value.group(1)) if item)
        return {key: val.removeprefix("$GITHUB_WORKSPACE/") for key, val in pairs}

    @property
    def build_command(self) -> str:
        return self.build.text.split("run:", 1)[-1].strip()

    @property
    def image_name(self) -> str:
        return self.image.text.split("image:", 1)[1].strip().split("@")[0]


# NumPy's job at v2.5.5 (WORKFLOW L110, which numpy-tests-under-tsan checks against it): every report
# printed and none stopping the run (exit 66 at the end if there was one), NumPy's known races
# suppressed. The options the book's runs of today's NumPy tests use, here rather than in that chapter's
# claims so that another chapter using them does not also wait for that chapter's builds of old releases.
TODAYS_JOB = "2.5.5"
TODAYS_OPTIONS = {"halt_on_error": "0", "allocator_may_return_null": "1",
                  "suppressions": str(sdist_dir(TODAYS_JOB) / "tools/ci/tsan_suppressions.txt")}


def numpy_tsan_job(version: str) -> TsanJob:
    """NumPy *version*'s ThreadSanitizer CI job, quoted from its sdist (the build fails if it moved)."""
    workflow = source_file("numpy", version, WORKFLOW)
    job = workflow.between("clang_TSAN:", "python -m spin test")
    tail = dataclasses.replace(workflow, start=job.end, lines=workflow.lines[job.end - 1:])
    test = tail.between("python -m spin test", " -- ")
    markers = {"image": "image:", "build": "-Db_sanitize=thread", "options": "TSAN_OPTIONS="}
    step = {name: job.line(job.line_of(marker)) for name, marker in markers.items()}
    return TsanJob(version, job, step["image"], step["build"], step["options"], test)


# ------------------------------------------------------------------ your own extension

# Run by a book environment's python: the command that compiled the demo extension with
# -fsanitize=thread for it (demo_patterns records it beside the build), and the paths in it.
_DEMO_BUILD = """
import json, sys, sysconfig
sys.path.insert(0, sys.argv[1])
import numpy, demo_patterns
folder = demo_patterns.default_build_dir("thread")
stamp = json.loads((folder / (demo_patterns.MODULE + ".stamp.json")).read_text())
print(json.dumps({"command": stamp["command"], "source": str(demo_patterns.SOURCE),
                  "include": sysconfig.get_paths()["include"], "numpy_include": numpy.get_include(),
                  "suffix": sysconfig.get_config_var("EXT_SUFFIX")}))
"""
# What a reader's shell puts where the build's own paths were.
_READER_PATHS = {
    "include": "$(python -c 'import sysconfig; print(sysconfig.get_paths()[\"include\"])')",
    "numpy_include": "$(python -c 'import numpy; print(numpy.get_include())')",
    "suffix": "$(python -c 'import sysconfig; print(sysconfig.get_config_var(\"EXT_SUFFIX\"))')",
}


@dataclasses.dataclass(frozen=True)
class DemoBuild:
    """How the demo extension was compiled for an interpreter built with ThreadSanitizer."""

    command: list[str]  # exactly as it ran, the build's paths in it
    reader: str  # the same, as a reader types it in a copy of examples/


def demo_build(python: Path | str, examples: Path) -> DemoBuild:
    """The command that compiled ``examples/metadata_demo.c`` with ``-fsanitize=thread`` for *python*."""
    asked = subprocess.run([str(python), "-c", _DEMO_BUILD, str(examples)], capture_output=True, text=True,
                           timeout=120)
    if asked.returncode != 0:
        raise RuntimeError(f"no record of the demo extension's build: {asked.stderr.strip()[-800:]}")
    found = json.loads(asked.stdout)
    reader = []
    for argument in found["command"]:
        for key in ("include", "numpy_include"):
            argument = argument.replace(found[key], _READER_PATHS[key])
        if argument == found["source"]:
            argument = Path(argument).name
        elif argument.endswith(found["suffix"]):
            stem = Path(argument).name.removesuffix(found["suffix"])
            argument = f"{stem}{_READER_PATHS['suffix']}"
        reader.append(argument if "$(" in argument else shlex.quote(argument))
    return DemoBuild(found["command"], " ".join(reader))
