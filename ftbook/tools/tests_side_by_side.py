"""The test suite as several pytest processes side by side, its files split by how long they take.

    python -m ftbook.tools.tests_side_by_side [--jobs N] [--record]

``./nox -s tests`` with no arguments runs this. Much of the suite waits:
on a kernel, on a ThreadSanitizer run's many threads, on Sphinx reading
cached chapters one at a time. So the test files are split into as many
groups as there are jobs (``FTBOOK_JOBS``, else one per core), the longest
first into the group with the least work so far, by the seconds each file
took when last recorded (``tests/durations.json``; ``--record`` writes it
from this run). Files that use the built book (the ``built_book`` fixture,
a whole Sphinx build) stay in one group, so the book is built once.

Each group is one ``pytest`` process with its output in a log file; the
session prints each group's summary, and every failure, at the end. Two
pytest processes must not share ``.pytest_cache`` (its last-failed list is
read, changed and written back), so the groups run without it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from ftbook import ProvisionError
from ftbook.build.execute import jobs
from ftbook.provision.cache import atomic_write_text, cache_dir, format_seconds
from ftbook.run import ROOT

TESTS = ROOT / "tests"
DURATIONS = TESTS / "durations.json"  # seconds per test file, from the last --record
SHARED = "built_book"  # the session fixture that builds the whole book: its users run in one process
UNKNOWN_SECONDS = 10.0  # a file with no recorded duration (a new one)
GROUP_TIMEOUT = 3 * 3600  # seconds: far over the whole suite one at a time; a hang ends the run


def test_files() -> list[Path]:
    return sorted(TESTS.glob("test_*.py"))


def units(files: list[Path]) -> list[tuple[Path, ...]]:
    """What may run apart: each file alone, except that the users of the built book go together."""
    sharing = tuple(path for path in files if SHARED in path.read_text())
    return [*([sharing] if sharing else []), *((path,) for path in files if path not in sharing)]


def split(files: list[Path], durations: dict[str, float], jobs: int) -> list[list[Path]]:
    """*files* in at most *jobs* groups, the longest unit first into the group with the least work."""
    groups: list[list[Path]] = [[] for _ in range(max(1, jobs))]
    load = [0.0] * len(groups)

    def seconds(unit: tuple[Path, ...]) -> float:
        return sum(durations.get(path.name, UNKNOWN_SECONDS) for path in unit)

    for unit in sorted(units(files), key=seconds, reverse=True):
        lightest = load.index(min(load))
        groups[lightest] += unit
        load[lightest] += seconds(unit)
    return [sorted(group) for group in groups if group]


def file_seconds(junit: Path) -> dict[str, float]:
    """Seconds per test file in a JUnit XML report (each case's setup, call and teardown)."""
    seconds: dict[str, float] = {}
    for case in ElementTree.parse(junit).iter("testcase"):
        # "tests.test_claims" or "tests.test_claims.TestX": the module is the last part named test_*
        # (a folder before it may be named so too, as pytest's temporary folders are).
        module = (case.get("classname") or "").split(".")
        name = next((f"{part}.py" for part in reversed(module) if part.startswith("test_")), None)
        if name:
            seconds[name] = seconds.get(name, 0.0) + float(case.get("time") or 0)
    return seconds


def recorded() -> dict[str, float]:
    try:
        return {str(name): float(value) for name, value in json.loads(DURATIONS.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def run(groups: list[list[Path]], python: str, extra: list[str]) -> tuple[int, dict[str, float]]:
    """Run each group as its own pytest process, all at once; return the worst exit status and the seconds."""
    logs = cache_dir("logs")
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    started = time.monotonic()
    running = []
    for number, group in enumerate(groups, 1):
        log = logs / f"tests-{stamp}-group{number}.log"
        junit = logs / f"tests-{stamp}-group{number}.xml"
        command = [python, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={junit}", *extra,
                   *map(str, group)]
        print(f"==> group {number}: {len(group)} files ({', '.join(path.stem for path in group)}); log {log}",
              flush=True)
        handle = log.open("w")
        running.append((number, log, junit, handle,
                        subprocess.Popen(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)))
    status, seconds = 0, {}
    for number, log, junit, handle, process in running:
        try:
            code = process.wait(timeout=max(1, GROUP_TIMEOUT - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
            print(f"==> group {number} was stopped after {format_seconds(GROUP_TIMEOUT)}", flush=True)
        handle.close()
        status = max(status, code)
        print(f"==> group {number}: {summary(log.read_text(errors='replace'))}", flush=True)
        if code != 0:
            print(failures(log.read_text(errors="replace")), flush=True)
        if junit.is_file():
            seconds |= file_seconds(junit)
    took = format_seconds(time.monotonic() - started)
    print(f"==> {len(groups)} groups side by side in {took}", flush=True)
    return status, seconds


def summary(output: str) -> str:
    """pytest's last line (``543 passed in 1048.80s``)."""
    lines = [line.strip("= ").strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def failures(output: str) -> str:
    """pytest's short summary of what failed (``-ra``), or the output's last lines."""
    marker = "short test summary info"
    if marker in output:
        return output[output.index(marker):].split("\n", 1)[-1].rstrip()
    return "\n".join(output.splitlines()[-30:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftbook.tools.tests_side_by_side",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, help="pytest processes at once (FTBOOK_JOBS, else one per core)")
    parser.add_argument("--record", action="store_true", help=f"write each file's seconds to {DURATIONS}")
    args, extra = parser.parse_known_args(argv)
    try:
        count = jobs() if args.jobs is None else args.jobs
    except ProvisionError as error:
        parser.exit(2, f"error: {error}\n")
    if count < 1:
        parser.exit(2, "error: --jobs must be 1 or more\n")
    groups = split(test_files(), recorded(), count)
    status, seconds = run(groups, sys.executable, extra)
    if args.record and seconds:
        rounded = {name: round(value, 1) for name, value in sorted(seconds.items())}
        atomic_write_text(DURATIONS, json.dumps(rounded, indent=1) + "\n")
        print(f"==> recorded {DURATIONS.relative_to(ROOT)}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
