# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy"]
# ///
"""Stress np.repeat from many threads on one shared array (numpy/numpy#28197).

Every thread calls ``np.repeat(shared, REPEATS, axis=0)`` on the same
C-contiguous array and checks the result. Up to NumPy 2.2.2, PyArray_Repeat
briefly wrote the result's length into a C-contiguous input's own dims and
wrote the old length back. On a free-threaded CPython with the GIL off
(NumPy's first free-threaded wheels were 2.1.0's), other threads then built
results of the wrong shape, overran buffers and crashed. NumPy 2.2.3 fixed it.

    python repeat_stress.py --threads 4 --iterations 20000 --json
"""

import sys

import numpy as np

from thread_harness import finish, parser, run_threaded

# The keys of its --json summary besides the harness's: the book's chapters and tests
# read them by name, so renaming one changes a contract (the book's nox -s uses -- repeat_stress.py).
SUMMARY_KEYS = ("calls", "wrong_shapes", "wrong_values")

ROWS, COLS, REPEATS = 100, 10, 3


def stress(threads, iterations, timeout):
    """Every thread calls np.repeat on one shared array and checks the result; returns the counts."""
    shared = np.arange(ROWS * COLS).reshape(ROWS, COLS)  # C-contiguous: the case that raced
    expected = np.repeat(shared, REPEATS, axis=0)  # computed before any thread starts
    counts = [{"calls": 0, "wrong_shapes": 0, "wrong_values": 0} for _ in range(threads)]

    def worker(mine):
        def loop(run):
            for _ in range(iterations):
                if not run.running():
                    return
                result = np.repeat(shared, REPEATS, axis=0)
                mine["calls"] += 1
                if result.shape != expected.shape:
                    mine["wrong_shapes"] += 1
                elif not np.array_equal(result, expected):
                    mine["wrong_values"] += 1
        return loop

    run = run_threaded([worker(mine) for mine in counts], timeout=timeout)
    return {key: sum(c[key] for c in counts) for key in counts[0]}, run


def main(argv=None):
    args = parser(__doc__, threads=4, iterations=2000, timeout=60.0).parse_args(argv)
    totals, run = stress(args.threads, args.iterations, args.timeout)
    return finish(args, run, example="repeat_stress",
                  race_observed=totals["wrong_shapes"] + totals["wrong_values"] > 0,
                  text=f"{totals['calls']} np.repeat calls on {args.threads} threads: "
                       f"{totals['wrong_shapes']} wrong shapes, {totals['wrong_values']} wrong values",
                  **totals)


if __name__ == "__main__":
    sys.exit(main())
