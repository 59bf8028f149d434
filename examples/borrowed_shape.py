# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy"]
# ///
"""Borrow a shared array's shape for a moment and put it back, or make a view: what another thread sees.

Two ways to sum the rows of a shared 2-d array through a flat copy of it:

  mutating  set a.shape to one dimension, copy, set it back (the setter is
            deprecated from NumPy 2.5 for exactly this); single-threaded the
            array looks untouched afterwards
  copying   ask for a new flat view; a itself is only read

Both return the same sums. Only another thread tells them apart: a reader
thread reads the shared array's shape *inside* the function's window, which
the function holds open (a hook, ``during``, waits until the reader has
looked), so the outcome never depends on timing. Exit status 1 means the
reader saw a shape the array never had for its owner.

    python borrowed_shape.py --function mutating --json
    python borrowed_shape.py --function copying --json
"""

import sys
import threading
import warnings

import numpy as np

from thread_harness import finish, parser, run_threaded

# The keys of its --json summary besides the harness's: the book's chapters and tests
# read them by name, so renaming one changes a contract (the book's nox -s uses -- borrowed_shape.py).
SUMMARY_KEYS = ("function", "shape", "reader_saw", "sums")


def row_sums_mutating(a, during=None):
    old = a.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # NumPy >= 2.5 warns about the setter
        a.shape = (a.size,)  # every thread holding a sees this
        if during:
            during()
        flat = a.copy()
        a.shape = old  # restore
    return flat.reshape(old).sum(axis=1)


def row_sums_copying(a, during=None):
    flat = a.reshape(a.size)  # a new view; a is only read
    if during:
        during()
    return flat.reshape(a.shape).sum(axis=1)


FUNCTIONS = {"mutating": row_sums_mutating, "copying": row_sums_copying}


def main(argv=None):
    made = parser(__doc__, threads=None, iterations=None, timeout=10.0)
    made.add_argument("--function", choices=sorted(FUNCTIONS), default="copying",
                      help="the version to call on the shared array (default copying)")
    args = made.parse_args(argv)
    shared = np.arange(12).reshape(3, 4)
    inside, looked = threading.Event(), threading.Event()
    seen, sums = [], []

    def reader(run):
        if run.wait_for(inside):  # the caller is inside its window
            seen.append(shared.shape)
        looked.set()

    def caller(run):
        # The hook holds the window open until the reader has looked (or the run ends).
        sums.append(FUNCTIONS[args.function](shared, during=lambda: (inside.set(), run.wait_for(looked))))

    run = run_threaded([caller, reader], timeout=args.timeout)
    reader_saw = list(seen[0]) if seen else None
    return finish(args, run, example="borrowed_shape",
                  race_observed=reader_saw is not None and tuple(reader_saw) != shared.shape,
                  text=f"{args.function}: the reader saw {reader_saw}, the owner's shape is {shared.shape}",
                  function=args.function, shape=list(shared.shape), reader_saw=reader_saw,
                  sums=[int(s) for s in sums[0]] if sums else None)


if __name__ == "__main__":
    sys.exit(main())
