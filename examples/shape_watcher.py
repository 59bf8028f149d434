"""Watch a shared array's shape while other threads call np.repeat on it.

np.repeat only *reads* its input, so the input's shape should never change.
On NumPy 2.1.0-2.2.2 with the GIL off it did, for a moment: PyArray_Repeat
wrote the result's length into the input's dims and wrote the old length
back afterwards (numpy/numpy#28197). A watcher thread that reads ``.shape``
in a loop can catch that moment. This example never crashes on purpose: it
only reads, so it shows the race without the memory corruption.

Only a C-contiguous input raced: PyArray_CheckAxis hands a contiguous array
straight back to PyArray_Repeat, but makes a private contiguous copy of any
other. ``--layout strided`` watches a non-contiguous (4, 3) view instead, on
which the old NumPy never wrote, so the watcher sees nothing there.

Exit status: 0 the shape never changed, 1 a transient shape was seen,
2 bad arguments, 3 the time limit ran out before all calls were made.

    python shape_watcher.py --threads 1 --iterations 200000 --json
    python shape_watcher.py --layout strided --json
"""

import argparse
import json
import sys
import threading
import time

import numpy as np

SHAPE, REPEATS = (4, 3), 5
LAYOUTS = {
    # C-contiguous: PyArray_CheckAxis returns this very array, the case that raced.
    "contiguous": lambda: np.arange(12).reshape(SHAPE),
    # Every other column of a (4, 6) array: same shape, not contiguous, so
    # np.repeat works on a private copy and never touches this array's dims.
    "strided": lambda: np.arange(24).reshape(SHAPE[0], 2 * SHAPE[1])[:, ::2],
}


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
    parser = Parser(description=__doc__.split("\n\n")[0],
                    epilog="Exit 0: shape never changed; 1: a transient shape was seen; 2: bad arguments; "
                    "3: time limit reached first.")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="threads calling np.repeat (default 1; one more thread watches)")
    parser.add_argument("--iterations", type=positive_int, default=20000,
                        help="np.repeat calls per thread (default 20000)")
    parser.add_argument("--timeout", type=positive_float, default=30.0,
                        help="stop after this many seconds (default 30)")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="contiguous",
                        help="the shared (4, 3) array: contiguous (raced) or a strided view (default contiguous)")
    parser.add_argument("--json", action="store_true", help="print one JSON summary line at the end")
    return parser.parse_args(argv)


def watch(layout, threads, iterations, timeout):
    shared = LAYOUTS[layout]()
    deadline = time.monotonic() + timeout
    repeaters_done = threading.Event()
    start = threading.Barrier(threads + 1)
    seen = {}  # transient shape -> how many reads saw it
    reads = [0]
    calls = [0] * threads

    def repeater(index):
        start.wait()
        for _ in range(iterations):
            if time.monotonic() > deadline:
                break
            np.repeat(shared, REPEATS, axis=0)
            calls[index] += 1

    def watcher():
        start.wait()
        while not repeaters_done.is_set() and time.monotonic() < deadline:
            shape = shared.shape  # the only thing this thread does: read
            reads[0] += 1
            if shape != SHAPE:
                seen[shape] = seen.get(shape, 0) + 1

    pool = [threading.Thread(target=repeater, args=(i,), daemon=True) for i in range(threads)]
    eye = threading.Thread(target=watcher, daemon=True)
    started = time.monotonic()
    for thread in [*pool, eye]:
        thread.start()
    for thread in pool:
        thread.join(max(0.0, deadline - time.monotonic()) + 5)
    repeaters_done.set()
    eye.join(5)
    return {
        "calls": sum(calls),
        "reads": reads[0],
        "transient_reads": sum(seen.values()),
        "transient_shapes": sorted(str(s) for s in seen),
        "seconds": round(time.monotonic() - started, 3),
    }


def main(argv=None):
    args = parse_args(argv)
    totals = watch(args.layout, args.threads, args.iterations, args.timeout)
    summary = {
        "example": "shape_watcher",
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "gil_enabled": sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True,
        "layout": args.layout,
        "threads": args.threads,
        "iterations": args.iterations,
        **totals,
        "timed_out": totals["calls"] < args.threads * args.iterations,
        "race_observed": totals["transient_reads"] > 0,
    }
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        print(f"{totals['reads']} reads of .shape during {totals['calls']} np.repeat calls "
              f"(NumPy {np.__version__}, GIL {'on' if summary['gil_enabled'] else 'off'}): "
              f"{totals['transient_reads']} saw a shape other than {SHAPE} {totals['transient_shapes']}")
    if summary["race_observed"]:
        return 1
    return 3 if summary["timed_out"] else 0


if __name__ == "__main__":
    sys.exit(main())
