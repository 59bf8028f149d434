"""Run an example in a subprocess, bounded in time, and say what happened.

A race that corrupts memory may kill the process. Running it in a child
turns that crash into a result (the signal) instead of the end of the build.

A chapter (or a test) says once what it runs, and gets back an
:class:`Outcome` that knows how it was run::

    outcome = run_example("shape_watcher.py", "--json", env="numpy-2.2.2", gil=True)
    outcome.signal            # 'SIGSEGV', or None
    outcome.check()           # the summary, after the checks every claim starts from
    commands_box(outcome)     # the command a reader types to run the same (ftbook.commands)

One name per idea: an *example* is a script in ``examples/``; *env* is a book
environment (:data:`ftbook.provision.envs.BOOK_ENVS`), never environment
variables, which are *variables*; *gil* is one boolean (``PYTHON_GIL=1`` or
``0``); an *outcome* is how a child process ended.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ftbook import DECLARED_EXAMPLES, check_declared

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# Keys thread_harness.finish writes into every summary; each example declares
# the rest in its SUMMARY_KEYS (see summary_contract).
COMMON_SUMMARY_KEYS = frozenset({
    "example", "python", "numpy", "gil_enabled", "threads", "iterations",
    "seconds", "worker_errors", "timed_out", "race_observed",
})


class SummaryContractError(AssertionError):
    """An example's summary and its declared SUMMARY_KEYS disagree."""


@dataclasses.dataclass(frozen=True)
class ExampleRun:
    """What to run: an example, its arguments, where, and with the GIL off or on."""

    example: str
    args: tuple[str, ...] = ()
    env: str | None = None  # a book environment; None: the kernel's own 3.14t (today's NumPy)
    gil: bool = False  # PYTHON_GIL=1 if True, else PYTHON_GIL=0
    variables: tuple[tuple[str, str], ...] = ()  # other environment variables, in order
    timeout: float = 120

    @property
    def python(self) -> Path:
        if self.env is None:
            return Path(sys.executable)
        from ftbook.provision.envs import book_env_python  # checks the chapter declared it

        return book_env_python(self.env)

    @property
    def environment(self) -> dict[str, str]:
        return {"PYTHON_GIL": "1" if self.gil else "0", **dict(self.variables)}

    @property
    def reads_released_sources(self) -> bool:
        """Does an argument or a variable name a file of the unpacked released sources (an sdist's test)?"""
        from ftbook.provision.cache import cache_dir

        folder = str(cache_dir("sources"))
        return any(folder in text for text in (*self.args, *dict(self.variables).values()))

    def reader_command(self) -> str:
        from ftbook.commands import reader_command

        return reader_command(self)

    def run(self) -> Outcome:
        check_declared(DECLARED_EXAMPLES, self.example)
        script = EXAMPLES / self.example
        if not script.exists():
            raise FileNotFoundError(f"no example {script}")
        outcome = run_command([self.python, script, *self.args], timeout=self.timeout, env=self.environment)
        return dataclasses.replace(outcome, request=self)


@dataclasses.dataclass
class Outcome:
    """How a child process ended; for an example, also what was asked (:attr:`request`)."""

    command: list[str]
    returncode: int | None  # None when it timed out
    seconds: float
    stdout: str
    stderr: str
    timed_out: bool = False
    request: ExampleRun | None = None

    @property
    def signal(self) -> str | None:
        """``'SIGSEGV'`` when the child was killed by a signal."""
        if self.returncode is not None and self.returncode < 0:
            return signal.Signals(-self.returncode).name
        return None

    @functools.cached_property
    def summary(self) -> dict | None:
        """The last stdout line that is a JSON object (the examples' ``--json``), keys checked.

        For an example, every key must be common or declared in its
        ``SUMMARY_KEYS``: a key a chapter or test reads is a contract.
        """
        for line in reversed(self.stdout.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    summary = json.loads(line)
                except ValueError:
                    continue
                if self.request is not None:
                    undeclared = set(summary) - COMMON_SUMMARY_KEYS - summary_contract(self.request.example)
                    if undeclared:
                        raise SummaryContractError(
                            f"{self.request.example} wrote summary keys it does not declare in "
                            f"SUMMARY_KEYS: {', '.join(sorted(undeclared))}")
                return summary
        return None

    @property
    def reader_command(self) -> str:
        if self.request is None:
            raise ValueError("only an example's outcome has a reader's command")
        return self.request.reader_command()

    def check(self, *, worker_errors: bool = False) -> dict:
        """The summary, after what every claim about a run starts from; raise AssertionError if not.

        A summary line was printed; the GIL was as asked (a re-enabled GIL
        would make the run prove nothing); NumPy is the release the run's
        environment pins; and, unless *worker_errors*, no worker thread raised.
        """
        summary = self.summary
        if summary is None:
            raise AssertionError(f"{self.label()}: no summary line ({self.describe()})\n"
                                 f"{self.stderr[-2000:]}")
        problems = []
        if self.request is not None:
            if summary["gil_enabled"] is not self.request.gil:
                problems.append(f"gil_enabled is {summary['gil_enabled']}, asked for {self.request.gil}")
            expected = expected_numpy(self.request.env)
            if summary["numpy"] is not None and summary["numpy"] != expected:
                problems.append(f"NumPy {summary['numpy']}, expected {expected}")
        if not worker_errors and summary["worker_errors"]:
            problems.append(f"worker errors: {summary['worker_errors']}")
        if problems:
            raise AssertionError(f"{self.label()}: " + "; ".join(problems))
        return summary

    def label(self) -> str:
        if self.request is None:
            return " ".join(self.command)
        return self.request.reader_command()

    @property
    def wedged(self) -> bool:
        """It ended itself stuck: faulthandler's watchdog printed every thread's stack and exited 1.

        An example that can corrupt memory arms ``faulthandler.dump_traceback_later(..., exit=True)``
        (``examples/numpy_races.py``): its "Timeout (H:MM:SS)!" line, and no summary, tell it from
        the example's own exit 1.
        """
        return (self.returncode == 1 and self.summary is None
                and re.search(r"^Timeout \(\d+:\d\d:\d\d\)!$", self.stderr, re.MULTILINE) is not None)

    @property
    def ended_itself(self) -> bool:
        """It finished its work: not killed at the timeout or by a signal, and not wedged."""
        return not (self.timed_out or self.signal or self.wedged)

    def describe(self) -> str:
        if self.timed_out:
            return f"timed out after {self.seconds:.0f} s"
        if self.wedged:
            return "stuck: stacks printed, exit 1"
        if self.signal:
            return f"killed by {self.signal}"
        return f"exit {self.returncode}"


# Requests a chapter's cell runs at once (run_side_by_side): the build machine's two cores.
SIDE_BY_SIDE = 2


def run_side_by_side(requests: Sequence[ExampleRun]) -> list[Outcome]:
    """*requests*, SIDE_BY_SIDE at a time, each in its own child process; their outcomes, in order.

    Only for runs whose result does not hang on timing: two children share
    the cores, so each takes longer, and two threads racing inside one meet
    less often (a race's runs on a release run alone).
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=SIDE_BY_SIDE) as pool:
        return list(pool.map(lambda request: request.run(), requests))


# What the build's own environment has that a child must not inherit. This book's build machines set
# PYTHONDONTWRITEBYTECODE=1, and a contributor's machine and NumPy's CI do not: with it, Python keeps no
# bytecode it compiles, and neither does pytest, which rewrites the asserts of its plugins' whole
# distributions (hypothesis's 66 modules) at every start. Under ThreadSanitizer that was 16 s of each
# pytest start (collecting test_records.py: 26 s, then 10 s once pytest had cached its rewrite;
# 2026-12-07). Whoever writes a cache file renames it into place (importlib; pytest's
# _write_pyc), so two children writing the same one at once leave a whole file.
NOT_PASSED_ON = frozenset({"PYTHONDONTWRITEBYTECODE"})


def run_command(
    command: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Outcome:
    """Run *command*; never raises for a crash, a non-zero exit or a timeout. *env*: variables to add.

    The child gets this process's environment but for :data:`NOT_PASSED_ON`.
    """
    argv = [os.fspath(part) for part in command]
    full_env = {key: value for key, value in os.environ.items() if key not in NOT_PASSED_ON} | dict(env or {})
    started = time.monotonic()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd)
    except subprocess.TimeoutExpired as expired:
        return Outcome(
            argv, None, time.monotonic() - started,
            _text(expired.stdout), _text(expired.stderr), timed_out=True,
        )
    return Outcome(argv, done.returncode, time.monotonic() - started, done.stdout, done.stderr)


def run_example(
    example: str,
    *args: str | os.PathLike[str],
    env: str | None = None,
    gil: bool = False,
    variables: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Outcome:
    """Run ``examples/<example>`` with *args* on book environment *env* (None: the kernel's)."""
    request = ExampleRun(example, tuple(os.fspath(a) for a in args), env, gil,
                         tuple((variables or {}).items()), timeout)
    return request.run()


def expected_numpy(env: str | None) -> str:
    """The NumPy release a run on book environment *env* must report (None: the kernel's, the book's lock)."""
    from ftbook.provision.envs import BOOK_ENVS
    from ftbook.provision.locks import pinned_version

    if env is not None and BOOK_ENVS[env].sanitized_numpy:  # built here from that release's sdist
        from ftbook.provision.instrumented import release_of

        return release_of(BOOK_ENVS[env].sanitized_numpy)  # the book's patches keep the version
    return pinned_version("book" if env is None else BOOK_ENVS[env].lock.name, "numpy")


@functools.cache
def summary_contract(example: str) -> frozenset[str]:
    """The summary keys *example* declares (its module-level ``SUMMARY_KEYS``), beyond the common ones."""
    tree = ast.parse((EXAMPLES / example).read_text())
    for node in tree.body:
        names = [getattr(target, "id", None) for target in getattr(node, "targets", [])]
        if "SUMMARY_KEYS" in names:
            return frozenset(ast.literal_eval(node.value))
    return frozenset()


def is_script(path: Path) -> bool:
    """Is *path* an example a reader runs (a ``__main__`` guard), not a module the others import?"""
    return path.suffix == ".py" and 'if __name__ == "__main__":' in path.read_text()


def example_scripts() -> list[Path]:
    """The scripts in ``examples/`` a reader runs (not the harness, not the pytest folder)."""
    return sorted(filter(is_script, EXAMPLES.glob("*.py")))


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")
