"""Run an example in a subprocess, bounded in time, and say what happened.

A race that corrupts memory may kill the process. Running it in a child
turns that crash into a result (the signal) instead of the end of the build.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ftbook import DECLARED_EXAMPLES, check_declared

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@dataclasses.dataclass
class Outcome:
    command: list[str]
    returncode: int | None  # None when it timed out
    seconds: float
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def signal(self) -> str | None:
        """``'SIGSEGV'`` when the child was killed by a signal."""
        if self.returncode is not None and self.returncode < 0:
            return signal.Signals(-self.returncode).name
        return None

    @property
    def summary(self) -> dict | None:
        """The last stdout line that is a JSON object (the examples' ``--json``)."""
        for line in reversed(self.stdout.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    continue
        return None

    def describe(self) -> str:
        if self.timed_out:
            return f"timed out after {self.seconds:.0f} s"
        if self.signal:
            return f"killed by {self.signal}"
        return f"exit {self.returncode}"


def run(
    command: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Outcome:
    """Run *command*; never raises for a crash, a non-zero exit or a timeout."""
    argv = [os.fspath(part) for part in command]
    full_env = {**os.environ, **(env or {})}
    started = time.monotonic()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd)
    except subprocess.TimeoutExpired as expired:
        return Outcome(
            argv, None, time.monotonic() - started,
            _text(expired.stdout), _text(expired.stderr), timed_out=True,
        )
    return Outcome(argv, done.returncode, time.monotonic() - started, done.stdout, done.stderr)


def is_script(path: Path) -> bool:
    """Is *path* an example a reader runs (a ``__main__`` guard), not a module the others import?"""
    return path.suffix == ".py" and 'if __name__ == "__main__":' in path.read_text()


def example_scripts() -> list[Path]:
    """The scripts in ``examples/`` a reader runs (not the harness, not the pytest folder)."""
    return sorted(filter(is_script, EXAMPLES.glob("*.py")))


def run_example(
    name: str,
    *args: str | os.PathLike[str],
    python: str | os.PathLike[str] = sys.executable,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
) -> Outcome:
    """Run ``examples/<name>`` with *python*."""
    check_declared(DECLARED_EXAMPLES, name)
    script = EXAMPLES / name
    if not script.exists():
        raise FileNotFoundError(f"no example {script}")
    return run([python, script, *args], timeout=timeout, env=env)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")
