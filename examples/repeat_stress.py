"""Stress np.repeat from many threads on one shared array (numpy/numpy#28197).

Every thread calls ``np.repeat(shared, REPEATS, axis=0)`` on the same
C-contiguous array and checks the result. On NumPy 2.1.0-2.2.2 under a
free-threaded interpreter with the GIL off, ``PyArray_Repeat`` briefly wrote
the new length into the shared array's dims, so other threads built results
of the wrong shape, overran buffers and crashed. NumPy 2.2.3 fixed it.

Exit status: 0 nothing wrong was seen, 1 a wrong result was seen, 2 bad
arguments, 3 the time limit ran out first; a crash kills the process with a
signal (SIGSEGV, SIGABRT), which is the point of running it in a subprocess.

    python repeat_stress.py --threads 4 --iterations 20000 --json
"""

import argparse
import json
import sys
import threading
import time

import numpy as np

ROWS, COLS, REPEATS = 100, 10, 3


# Argument checks that exit 2 with one line. Repeated on purpose in each
# single-file example, so that any one of them runs alone when copied.
def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text!r}")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2: no usage dump for a typo
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_args(argv=None):
    parser = Parser(description=__doc__.split("\n\n")[0], epilog="Exit 0: clean; 1: race observed; "
                    "3: time limit; killed by a signal: crashed.")
    parser.add_argument("--threads", type=positive_int, default=4, help="worker threads (default 4)")
    parser.add_argument("--iterations", type=positive_int, default=2000,
                        help="np.repeat calls per thread (default 2000)")
    parser.add_argument("--timeout", type=positive_float, default=60.0,
                        help="stop after this many seconds (default 60)")
    parser.add_argument("--json", action="store_true", help="print one JSON summary line at the end")
    return parser.parse_args(argv)


def stress(threads, iterations, timeout):
    shared = np.arange(ROWS * COLS).reshape(ROWS, COLS)  # C-contiguous: the case that raced
    expected = np.repeat(shared, REPEATS, axis=0)  # computed before any thread starts
    start = threading.Barrier(threads)
    deadline = time.monotonic() + timeout
    counts = [{"calls": 0, "wrong_shapes": 0, "wrong_values": 0} for _ in range(threads)]

    def worker(mine):
        start.wait()  # all threads hit np.repeat together
        for _ in range(iterations):
            if time.monotonic() > deadline:
                return
            result = np.repeat(shared, REPEATS, axis=0)
            mine["calls"] += 1
            if result.shape != expected.shape:
                mine["wrong_shapes"] += 1
            elif not np.array_equal(result, expected):
                mine["wrong_values"] += 1

    pool = [threading.Thread(target=worker, args=(c,), daemon=True) for c in counts]
    started = time.monotonic()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(max(0.0, deadline - time.monotonic()) + 5)
    totals = {key: sum(c[key] for c in counts) for key in counts[0]}
    totals["seconds"] = round(time.monotonic() - started, 3)
    totals["timed_out"] = totals["calls"] < threads * iterations
    return totals


def main(argv=None):
    args = parse_args(argv)
    totals = stress(args.threads, args.iterations, args.timeout)
    race = totals["wrong_shapes"] + totals["wrong_values"] > 0
    summary = {
        "example": "repeat_stress",
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "gil_enabled": sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True,
        "threads": args.threads,
        "iterations": args.iterations,
        **totals,
        "race_observed": race,
    }
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        print(f"{summary['calls']} calls of np.repeat on {args.threads} threads in {totals['seconds']} s "
              f"(NumPy {np.__version__}, GIL {'on' if summary['gil_enabled'] else 'off'}): "
              f"{totals['wrong_shapes']} wrong shapes, {totals['wrong_values']} wrong values")
    if race:
        return 1
    return 3 if totals["timed_out"] else 0


if __name__ == "__main__":
    sys.exit(main())
