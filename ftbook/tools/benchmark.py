"""Measure what a newcomer waits for, and record it for the measurements page.

    python -m ftbook.tools.benchmark --record docs/measurements   # what ./nox -s benchmark runs

In a fresh clone of this repository's committed ``HEAD``, with ``FTBOOK_CACHE``
pointing at a new empty folder (a fresh machine, as far as the book can
tell), it runs the README's two commands as a newcomer would, and times
each: ``./nox -s docs`` (the first build), ``./nox -s docs`` again with
nothing changed, then ``./nox -s tests``.

The first build is split where its work changes kind: the moment the
session reports its environment ready and the GIL off (:data:`PROVISIONED`),
every interpreter, environment and source has been made, and what follows
is the chapters executing. For each step it records the wall time, the CPU
time of everything the step ran (user and system, from ``getrusage`` of the
waited-for children) and so how busy the machine's cores were, and the load
just before it started, and what provisioning made with each one's time (the
interpreters built from source, NumPy built with ThreadSanitizer: :data:`MADE`).
One JSON file per run, named by date and commit,
goes into ``--record``; the book's measurements page reads every file there.
Nothing in those files is typed by hand.

A failed step ends the run: its record says which, the clone and its logs
are kept, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ftbook.build.phases import read_report
from ftbook.run import ROOT

STEPS = (
    ("docs", ["./nox", "-s", "docs"]),
    ("docs unchanged", ["./nox", "-s", "docs"]),
    ("tests", ["./nox", "-s", "tests"]),
)
# What the docs session logs when its last interpreter and environment are made (chapters may go on), and
# what noxfile.provision logs once everything a session needs is made (and the GIL checked): the first seen.
PROVISIONED = ("==> provisioned:", "free-threaded, GIL disabled after importing")
# What provisioning logs as it finishes each expensive thing it makes (ftbook.provision.interpreters and
# .instrumented): "==> built CPython 3.14.7 (3.14t-tsan) in 6 min 2 s: ..." and "==> NumPy 2.5.5-patched
# with ThreadSanitizer ready in 56.0 s", after nox's and the chain's prefixes ("nox > [3.14t-tsan] ").
# The benchmark keeps each with its time, in seconds.
MADE = re.compile(r"==> (?:built (CPython \S+ \(\S+\))|(NumPy \S+ with ThreadSanitizer) ready) in "
                  r"(?:(\d+) min (\d+) s|([\d.]+) s)", re.MULTILINE)
STEP_TIMEOUT = 3 * 3600  # seconds: far over the slowest step measured; a hang ends the run, not the machine


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_step(name: str, command: list[str], clone: Path, env: dict[str, str], log: Path) -> dict:
    """Run one step in *clone*, its output to *log*; return its measurements."""
    load = os.getloadavg()[0]
    cpu, started = _children_cpu(), time.monotonic()
    provisioned = None
    print(f"==> benchmark: {name}: {' '.join(command)} (log {log})", flush=True)
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=clone, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
        # A step that hangs is ended with its whole process group: nox, Sphinx, the kernels, the builds.
        watchdog = threading.Timer(STEP_TIMEOUT, os.killpg, (process.pid, signal.SIGKILL))
        watchdog.start()
        for line in process.stdout:
            output.write(line)
            if provisioned is None and any(marker in line for marker in PROVISIONED):
                provisioned = time.monotonic() - started
        returncode = process.wait()
        watchdog.cancel()
    wall, cpu = time.monotonic() - started, _children_cpu() - cpu
    text = log.read_text(errors="replace")
    phases = read_report(text)  # the build's own end-of-build lines, if any
    step = {"step": name, "command": " ".join(command), "returncode": returncode,
            "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
            "busy": round(cpu / wall / (os.cpu_count() or 1), 3), "load_before": round(load, 2),
            "provisioned_after_seconds": None if provisioned is None else round(provisioned, 1),
            **({"phases": phases} if phases else {}), **({"made": made} if (made := made_in(text)) else {})}
    print(f"==> benchmark: {name}: {wall:.0f} s, {cpu:.0f} s of CPU, exit {returncode}", flush=True)
    return step


def made_in(text: str) -> dict[str, float]:
    """The interpreters and instrumented NumPy builds a step's log says it made, each with its seconds."""
    return {cpython or numpy: float(seconds) if seconds else int(minutes) * 60 + int(rest)
            for cpython, numpy, minutes, rest, seconds in MADE.findall(text)}


def commit_of(repository: Path) -> str:
    return subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], cwd=repository, capture_output=True,
                          text=True, check=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftbook.tools.benchmark",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", type=Path, required=True, help="the folder to write the run's JSON into")
    parser.add_argument("--keep", action="store_true", help="keep the clone and its cache afterwards")
    args = parser.parse_args(argv)
    if not shutil.which("git"):
        print("error: the benchmark clones the repository: git is not on PATH", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="ftbook-benchmark-"))
    clone, cache, logs = work / "clone", work / "cache", work / "logs"
    logs.mkdir()
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "FTBOOK_CACHE": str(cache)}
    record = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit_of(clone),
        "cpus": os.cpu_count(),
        "steps": [],
    }
    for name, command in STEPS:
        step = run_step(name, command, clone, env, logs / f"{name.replace(' ', '-')}.log")
        record["steps"].append(step)
        if step["returncode"] != 0:
            record["failed"] = name
            break
    args.record.mkdir(parents=True, exist_ok=True)
    target = args.record / f"{record['date'][:10]}-{record['commit']}.json"
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    partial.write_text(json.dumps(record, indent=1) + "\n")
    partial.replace(target)  # a reader of the folder never sees half a record
    print(f"==> benchmark: recorded {target}", flush=True)
    if "failed" in record:  # the clone, its cache and the logs stay, to see why
        print(f"error: the step {record['failed']!r} failed: its log is in {logs}", file=sys.stderr)
        return 1
    if args.keep:
        print(f"==> benchmark: kept {work}", flush=True)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
