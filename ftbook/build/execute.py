"""Execute the chapters side by side, into myst-nb's execution cache, before Sphinx reads them.

myst-nb executes a chapter while Sphinx parses it, so a build runs its
chapters one after another, and only once every book environment is ready:
on two cores, ten minutes of chapters left a core idle and waited on
ThreadSanitizer builds most chapters never use. Sphinx's own ``-j`` does
not help: it splits the pages into fixed batches, it would need this
book's extension to be parallel-read safe (the declared inputs reach the
kernel through ``os.environ``), and it starts only after provisioning.

So ``nox -s docs`` executes the chapters first, as provisioning goes on:

- each chapter starts as soon as what it declares is ready
  (:mod:`ftbook.build.inputs`: its book environments, the released sources,
  the demo extension), as many at once as the machine has cores
  (``FTBOOK_JOBS`` sets another number; 1 is the one-at-a-time build);
- each runs in a process of its own (``python -m ftbook.build.execute
  CHAPTER``) with its own kernel, its cells bounded as in the book, reading
  the chapter exactly as myst-nb reads it and stamped with the same inputs
  digest (:func:`ftbook.build.inputs.with_digest`), and stores its outputs
  under the key myst-nb will look up;
- a chapter whose outputs are timings or rates says so in its front matter
  (``runs-alone: <why>``) and runs last, alone, once provisioning is over
  and no other chapter runs: its numbers describe the code, not the build.

Sphinx then finds every chapter in the cache and executes nothing; the
extension checks that (``EXECUTED_AHEAD``), so a chapter stored under a key
myst-nb does not look up fails the build instead of quietly running twice.
A marker per chapter (the digest of its stamped text) lets an unchanged
rebuild skip the chapter without starting Python.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ftbook import ProvisionError
from ftbook.build.cells import DOCS, chapter_name, notebooks
from ftbook.build.inputs import Inputs, chapter_inputs, with_digest
from ftbook.provision.cache import atomic_write_text, cache_dir, folder_lock, format_seconds

BUILD = DOCS / "_build"
EXECUTION_CACHE = BUILD / ".jupyter_cache"  # docs/conf.py's nb_execution_cache_path
MARKERS = BUILD / ".executed-ahead"
JOBS_VARIABLE = "FTBOOK_JOBS"
# Set for the Sphinx run after the chapters were executed ahead: myst-nb must find each in the cache.
EXECUTED_AHEAD = "FTBOOK_EXECUTED_AHEAD"

# What a chapter can wait for besides its book environments (ftbook.provision.envs.BOOK_ENVS).
KERNEL = "kernel"  # the book's own 3.14t environment: every chapter runs on it
SOURCES = "sources"  # NumPy's sdists, CPython's release trees (ftbook.provision.sources)
DEMO = "demo extension"  # examples/metadata_demo.c compiled for the kernel
DEMO_TSAN = "demo extension (TSAN)"  # ... and with -fsanitize=thread for the TSAN interpreter

_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)
_RUNS_ALONE = re.compile(r"^runs-alone:\s*(.+?)\s*$", re.M)


def runs_alone(text: str) -> str | None:
    """Why the chapter must have the machine to itself (its front matter's ``runs-alone``), or None."""
    front = _FRONT_MATTER.match(text)
    found = _RUNS_ALONE.search(front.group(1)) if front else None
    return found.group(1).strip("\"'") if found else None


@dataclasses.dataclass(frozen=True)
class Chapter:
    path: Path
    name: str  # root-cause, family/restore
    text: str
    inputs: Inputs
    needs: frozenset[str]  # KERNEL, SOURCES, DEMO, DEMO_TSAN and book environment names
    alone: str | None  # why it runs alone, or None

    @property
    def marker(self) -> Path:
        return marker(self.name)

    def is_done(self) -> bool:
        """Was this exact text, with its inputs as they are now, executed ahead and stored?

        Call it once the chapter's needs are ready: the key covers its environments' stamps.
        """
        key = execution_key(with_digest(self.text, self.inputs.digest()))
        return self.marker.is_file() and self.marker.read_text() == key


def execution_key(stamped_text: str) -> str:
    """What a marker holds: the SHA-256 of the text Sphinx will parse, its inputs digest stamped in."""
    return hashlib.sha256(stamped_text.encode()).hexdigest()


def marker(name: str, folder: Path | None = None) -> Path:
    """The file that holds the key of a chapter's last stored execution (its stamped text's SHA-256)."""
    return (folder or MARKERS) / (name.replace("/", "--") + ".sha256")


def forget_executed() -> None:
    """Forget every chapter's marker (``--rerun-all`` empties the execution cache too)."""
    shutil.rmtree(MARKERS, ignore_errors=True)


def stamped(path: Path) -> tuple[str, Inputs]:
    """The chapter's text as Sphinx will parse it (its inputs digest in the first cell), and its inputs."""
    text = path.read_text()
    inputs = chapter_inputs(text)
    return with_digest(text, inputs.digest()), inputs


def plan(kernel_prefix: Path, paths: Iterable[Path] | None = None) -> list[Chapter]:
    """Every executable chapter (or *paths*), with what it waits for; read on any Python, runs nothing."""
    chapters = []
    for path in paths or notebooks():
        text = path.read_text()
        inputs = chapter_inputs(text, kernel_prefix=kernel_prefix)
        needs = {KERNEL, *inputs.env_names}
        if inputs.needs_sources:
            needs.add(SOURCES)
        if "metadata_demo.c" in inputs.examples:
            needs |= {DEMO, *([DEMO_TSAN] if "tsan" in inputs.env_names else [])}
        chapters.append(Chapter(path, chapter_name(path), text, inputs, frozenset(needs), runs_alone(text)))
    return chapters


class Readiness:
    """What has been prepared or has failed, shared by the threads of provisioning and of the chapters.

    Every name a chapter can wait for is expected up front (:meth:`expect`)
    and each is marked ready or failed exactly when its step ends; a chain
    that ends marks what it did not reach as failed (:meth:`chain`), so no
    waiter waits for a step that will never run.
    """

    def __init__(self, on_provisioned: Callable[[], None] = lambda: None) -> None:
        self._on_provisioned = on_provisioned  # called once the last provisioning chain ends
        self._changed = threading.Condition()  # re-entrant: predicates below call back into it
        self._expected: set[str] = set()
        self._ready: dict[str, object] = {}
        self._failed: set[str] = set()
        self._provisioning = 0  # chains still preparing something

    def expect(self, names: Iterable[str]) -> None:
        with self._changed:
            self._expected |= set(names)

    def mark(self, name: str, result: object = None, *, ok: bool = True) -> None:
        with self._changed:
            if ok:
                self._ready[name] = result
            else:
                self._failed.add(name)
            self._changed.notify_all()

    def result(self, name: str) -> object:
        with self._changed:
            return self._ready[name]

    def step(self, name: str, function: Callable) -> Callable:
        """*function*, its result marked as *name* when it returns, *name* failed when it raises."""

        def marked(*args, **kwargs):
            try:
                result = function(*args, **kwargs)
            except BaseException:
                self.mark(name, ok=False)
                raise
            self.mark(name, result)
            return result

        return marked

    def chain(self, names: Iterable[str], function: Callable, *, provisioning: bool = True) -> Callable:
        """A chain of steps named *names*: when it ends, any of them not marked is marked failed.

        While a *provisioning* chain runs, :attr:`provisioning` is true (the
        chapters that run alone wait for it to end).
        """
        names = set(names)
        self.expect(names)
        if provisioning:
            with self._changed:
                self._provisioning += 1

        def chained(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            finally:
                with self._changed:
                    self._failed |= names - set(self._ready)
                    self._provisioning -= provisioning
                    if provisioning and not self._provisioning:
                        self._on_provisioned()
                    self._changed.notify_all()

        return chained

    def state(self, needs: Iterable[str]) -> str:
        """``ready``; ``waiting``; or ``failed`` (a need failed, or nothing will ever prepare it)."""
        needs = set(needs)
        with self._changed:
            if needs & self._failed or needs - self._expected:
                return "failed"
            return "ready" if needs <= set(self._ready) else "waiting"

    def missing(self, needs: Iterable[str]) -> list[str]:
        with self._changed:
            return sorted(set(needs) - set(self._ready))

    @property
    def provisioning(self) -> bool:
        with self._changed:
            return self._provisioning > 0

    def wait_for(self, predicate: Callable[[], object]) -> object:
        """Block until *predicate* (called with the condition held) returns something true; return it."""
        with self._changed:
            return self._changed.wait_for(predicate)

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """Hold the condition while the caller changes what the waiters' predicates read; then wake them."""
        with self._changed:
            yield
            self._changed.notify_all()


class ChapterFailed(ProvisionError):
    """One or more chapters failed; the message names each, its cell and its error."""


def jobs() -> int:
    """How many chapters (or test processes) run at once: ``FTBOOK_JOBS``, else one per core."""
    value = os.environ.get(JOBS_VARIABLE, "")
    if not value:
        return os.cpu_count() or 1
    if not value.isdigit() or int(value) < 1:
        raise ChapterFailed(f"{JOBS_VARIABLE}={value!r}: give a whole number of jobs to run at once "
                            "(1 or more)")
    return int(value)


def execute_ahead(chapters: list[Chapter], python: Path, readiness: Readiness, log: Callable[[str], None],
                  *, workers: int, durations: dict[str, float] | None = None) -> dict[str, float]:
    """Execute every chapter not already done, each when its needs are ready; return seconds by chapter.

    Up to *workers* at once; the longest first among those ready (by
    *durations*, the last run's seconds, when known). A chapter that runs
    alone waits until provisioning is over (``readiness`` closed) and no
    other chapter runs, and keeps the machine until it ends. Raises
    :class:`ChapterFailed` naming every chapter that failed or could not
    start, after the others have run.
    """
    durations = durations or {}
    alone = sum(1 for chapter in chapters if chapter.alone)
    log(f"==> {len(chapters)} chapters, up to {workers} at once"
        + (f" ({alone} alone, last)" if alone else "")
        + "; each starts when what it needs is ready, unless it was executed before with the same inputs")
    # The lists below change only with the readiness condition held: one lock, one order.
    pending = sorted(chapters, key=lambda chapter: -durations.get(chapter.name, 0.0))
    running: list[Chapter] = []
    seconds: dict[str, float] = {}
    failures: list[str] = []
    no_more = object()

    def may_start(chapter: Chapter) -> bool:
        """Nothing runs beside a chapter that runs alone, which starts once provisioning and the rest end."""
        if any(other.alone for other in running):
            return False
        return not chapter.alone or not (running or readiness.provisioning
                                         or any(not other.alone for other in pending))

    def next_chapter() -> Chapter | object | None:
        """A chapter to start now; ``no_more`` when none is left; None: wait for a change."""
        for chapter in list(pending):
            state = readiness.state(chapter.needs)
            if state == "failed":
                pending.remove(chapter)
                missing = ", ".join(readiness.missing(chapter.needs))
                failures.append(f"{chapter.name}: not executed: {missing} could not be prepared")
            elif state == "ready" and may_start(chapter):
                pending.remove(chapter)
                running.append(chapter)
                return chapter
        return None if pending else no_more

    def worker() -> None:
        while (chapter := readiness.wait_for(next_chapter)) is not no_more:
            failure = took = None
            try:
                # Only now: the key covers the stamps of environments that were being prepared until now.
                if not chapter.is_done():
                    took = _execute(chapter, python, log)
            except ChapterFailed as error:
                failure = str(error)
            with readiness.changing():
                running.remove(chapter)
                if failure:
                    failures.append(failure)
                elif took is not None:
                    seconds[chapter.name] = took

    threads = [threading.Thread(target=worker, name=f"chapter-{n}") for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise ChapterFailed("\n".join(failures))
    own_time = f" ({format_seconds(sum(seconds.values()))} of their own time)" if seconds else ""
    log(f"==> executed {len(seconds)} chapters{own_time}; "
        f"{len(chapters) - len(seconds)} unchanged since they were last executed")
    return seconds


def _execute(chapter: Chapter, python: Path, log: Callable[[str], None]) -> float:
    """Run ``python -m ftbook.build.execute`` on one chapter; its output goes to a log file."""
    started = time.monotonic()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    log(f"{chapter.name}: started" + (f", alone ({chapter.alone})" if chapter.alone else "")
        + f"; load average {load:.2f}")
    output = cache_dir("logs") / f"chapter-{chapter.name.replace('/', '--')}-{os.getpid()}.log"
    with open(output, "w") as out:
        result = subprocess.run([str(python), "-m", "ftbook.build.execute", str(chapter.path),
                                 "--cache", str(EXECUTION_CACHE), "--markers", str(MARKERS)],
                                stdout=out, stderr=subprocess.STDOUT, cwd=DOCS.parent)
    took = time.monotonic() - started
    if result.returncode != 0:
        from ftbook.build.failures import digest

        text = output.read_text(errors="replace")
        what = digest(text) or f"FAILED {chapter.name}:\n    " + "\n    ".join(text.splitlines()[-8:])
        raise ChapterFailed(f"{what}\n  (after {format_seconds(took)}; its whole output: {output})")
    output.unlink(missing_ok=True)
    log(f"{chapter.name}: executed in {format_seconds(took)}")
    return took


# ---------------------------------------------------------------------------
# The worker: one chapter, in the kernel's environment (myst-nb, nbclient, jupyter-cache).


def _notebook(path: Path, text: str):
    """The notebook myst-nb makes of *text*: the same reader, the book's MyST settings."""
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    config = _conf_values()
    md_config = MdParserConfig(enable_extensions=set(config["myst_enable_extensions"]),
                               heading_anchors=config["myst_heading_anchors"])
    return read_myst_markdown_notebook(text, md_config, add_source_map=True, path=path)


def _conf_values() -> dict:
    """docs/conf.py's settings, read by running it as Sphinx does."""
    namespace: dict = {"__file__": str(DOCS / "conf.py")}
    exec(compile((DOCS / "conf.py").read_text(), str(DOCS / "conf.py"), "exec"), namespace)
    return namespace


def execute_one(path: Path, cache_path: Path = EXECUTION_CACHE, markers: Path = MARKERS) -> int:
    """Execute one chapter into the execution cache (unless it is there); 0 on success.

    A failure is written as Sphinx's warning would be (``ftbook.build.failures``
    reads it back into the few lines the session prints).
    """
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution

    from ftbook.build import CELL_TIMEOUT

    text, inputs = stamped(path)
    notebook = _notebook(path, text)
    # The cache's database has one user at a time, across the chapters' processes.
    with folder_lock(cache_path, log=lambda line: None):
        cache = get_cache(str(cache_path))
        try:
            cache.match_cache_notebook(notebook)
            found = True
        except KeyError:
            found = False
    if not found:
        inputs.declare()  # the kernel started below inherits the lists, as under Sphinx
        result = single_nb_execution(notebook, cwd=str(path.parent), allow_errors=False,
                                     timeout=CELL_TIMEOUT, meta_override=True)
        if result.err is not None:
            print(f"{path}: WARNING: Executing notebook failed: {type(result.err).__name__}\n"
                  f"{result.exc_string} [mystnb.exec]", flush=True)
            return 1
        with folder_lock(cache_path, log=lambda line: None):
            get_cache(str(cache_path)).cache_notebook_bundle(
                CacheBundleIn(notebook, str(path), data={"execution_seconds": result.time}),
                check_validity=False, overwrite=True)
        print(f"{chapter_name(path)}: executed in {result.time:.1f} s", flush=True)
    markers.mkdir(parents=True, exist_ok=True)
    atomic_write_text(marker(chapter_name(path), markers), execution_key(text))
    return 0


def last_durations() -> dict[str, float]:
    """Each chapter's seconds in its last stored execution, from the markers' folder (empty at first)."""
    record = MARKERS / "durations.json"
    if not record.is_file():
        return {}
    try:
        return {str(k): float(v) for k, v in json.loads(record.read_text()).items()}
    except (ValueError, AttributeError):
        return {}


def record_durations(seconds: dict[str, float]) -> None:
    """Remember each chapter's seconds, so that the next build starts the longest first."""
    if not seconds:
        return
    MARKERS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(MARKERS / "durations.json",
                      json.dumps(last_durations() | seconds, indent=1, sort_keys=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftbook.build.execute",
                                     description="Execute one chapter into the execution cache.")
    parser.add_argument("chapter", type=Path, help="the chapter's path, docs/chapters/NAME.md")
    parser.add_argument("--cache", type=Path, default=EXECUTION_CACHE, help="the execution cache")
    parser.add_argument("--markers", type=Path, default=MARKERS, help="where to note what was executed")
    args = parser.parse_args(argv)
    if not args.chapter.is_file():
        parser.exit(2, f"error: no chapter at {args.chapter}\n")
    return execute_one(args.chapter.resolve(), args.cache, args.markers)


if __name__ == "__main__":
    sys.exit(main())
