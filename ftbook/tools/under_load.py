"""How often a timing-dependent claim's run misses its race with every core already busy.

    python -m ftbook.tools.under_load --record docs/measurements/under-load   # what ./nox -s under-load runs
    python -m ftbook.tools.under_load --runs 5 --only nonzero                 # a quick look, nothing recorded

A claim whose evidence is timing names it in its module's ``TEST_RUNS`` as a
``ftbook.tsan.UntilRace``: a request run until ThreadSanitizer reports a
whole data race naming one function. TSAN sees such a race only when the two
accesses really overlap, which a busy machine makes rarer. This tool starts
one busy process per core (:func:`busy_cores`, what a shared CI runner or a
contributor's own test run looks like to the build), then runs each such
request ``--runs`` times, one run at a time, and records for each run whether
it reported the race and how long it took. From those, the measurements page
states each claim's miss rate under full load next to the budget the build
gives it (``ftbook.tsan.RACE_SECONDS``).

The record is one JSON file per invocation, named by date and commit, written
under a unique temporary name and renamed into place. Exit status 1 when a
request never reported its race in all its runs (its budget cannot hold).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ftbook.provision.cache import atomic_write_text
from ftbook.run import ROOT
from ftbook.tools.benchmark import commit_of

# One core's worth of work that never sleeps, and ends when the process that started it is gone
# (however it ended: a SIGKILL runs no cleanup, and busy orphans would slow everything after).
# The parent's pid comes as an argument: read at start-up, a parent already gone would look like init.
BUSY = "import os, sys\nparent = int(sys.argv[1])\nwhile os.getppid() == parent:\n    pass\n"


@contextlib.contextmanager
def busy_cores(count: int | None = None) -> Iterator[list[subprocess.Popen]]:
    """*count* processes (one per core by default; 0: none) spinning while the block runs, then killed."""
    count = (os.cpu_count() or 1) if count is None else count
    busy = [subprocess.Popen([sys.executable, "-c", BUSY, str(os.getpid())], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            for _ in range(count)]
    try:
        yield busy
    finally:
        for process in busy:
            process.kill()
        for process in busy:
            process.wait()


def timing_evidence() -> list[tuple[str, object]]:
    """``(claim's dotted name, UntilRace)`` for every timing-dependent run in the claim modules' TEST_RUNS."""
    import ftbook.claims
    from ftbook.tsan import UntilRace

    found: dict[UntilRace, str] = {}  # one measurement for a race that several claims stand on
    for module in ftbook.claims.modules():
        for claim, runs in module.TEST_RUNS:
            for run in runs:
                if isinstance(run, UntilRace):
                    found.setdefault(run, f"{module.__name__.rsplit('.', 1)[1]}.{claim.__name__}")
    return [(name, race) for race, name in found.items()]


def measure(name: str, race, runs: int) -> dict:
    """*runs* runs of *race*'s request, each: did it report a whole race naming the function, in how long."""
    from ftbook.tsan import run_under_tsan

    measured = []
    for n in range(runs):
        run = run_under_tsan(race.request)
        reported = bool(run.whole_races_in(race.function, race.written_by))
        measured.append({"reported": reported, "seconds": round(run.outcome.seconds, 1),
                         "returncode": run.outcome.returncode})
        print(f"  {name} run {n + 1}/{runs}: {'reported' if reported else 'MISSED'} "
              f"in {run.outcome.seconds:.1f} s", flush=True)
    seconds = [run["seconds"] for run in measured]
    return {"claim": name, "function": race.function, "written_by": race.written_by, "env": race.request.env,
            "command": " ".join([race.request.example, *race.request.args]),
            "misses": sum(not run["reported"] for run in measured),
            "median_seconds": statistics.median(seconds), "runs": measured}


def write_record(record: dict, folder: Path) -> Path:
    """*record* as ``<date>T<time>-<commit>.json`` in *folder*, written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record['date'][:19].replace(':', '-')}-{record['commit']}.json"
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each request (default 20)")
    parser.add_argument("--busy", type=int, default=os.cpu_count(),
                        help="busy processes (default: one per core)")
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="only the claims whose name contains TEXT (repeatable)")
    parser.add_argument("--record", type=Path, help="write the measurements into this folder")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # so the busy processes end
    if args.runs < 1 or args.busy < 0:
        parser.error("--runs must be at least 1 and --busy at least 0")
    from ftbook.tsan import RACE_SECONDS

    chosen = [(name, race) for name, race in timing_evidence()
              if not args.only or any(text in name for text in args.only)]
    if not chosen:
        parser.error(f"no timing-dependent claim matches {args.only}")
    record = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "commit": commit_of(ROOT), "cores": os.cpu_count(), "busy_processes": args.busy,
              "runs_each": args.runs,
              "budget_seconds": RACE_SECONDS, "load_before": round(os.getloadavg()[0], 2), "claims": []}
    started = time.monotonic()
    with busy_cores(args.busy):
        for name, race in chosen:
            record["claims"].append(measure(name, race, args.runs))
    record["seconds"] = round(time.monotonic() - started)
    never = [claim["claim"] for claim in record["claims"] if claim["misses"] == len(claim["runs"])]
    for claim in record["claims"]:
        print(f"{claim['claim']}: {claim['misses']} misses in {len(claim['runs'])} runs, "
              f"median {claim['median_seconds']} s a run")
    if args.record:
        print(f"recorded in {write_record(record, args.record)}")
    if never:
        print(f"never reported under load: {', '.join(never)}", file=sys.stderr)
    return 1 if never else 0


if __name__ == "__main__":
    sys.exit(main())
