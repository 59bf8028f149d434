# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy"]
# ///
"""Replay a metadata race from NumPy's issue tracker, for ThreadSanitizer to name.

Each case is the smallest program that makes NumPy's C code touch one
piece of shared metadata from two threads, the way the issue describes.
Most of these races change nothing a thread can see (the value written is
the value already there), so a plain run only shows that the calls
complete; run it on NumPy built with ThreadSanitizer, on a CPython
configured --with-thread-sanitizer, to see the report. Thread 0 runs the
case's first part; every other thread runs its second part.

    python numpy_races.py --case flat-flags --threads 2 --iterations 200 --json

Cases (``--case``):

- ``flat-flags``: every thread makes ``x.flat`` of one shared
  non-contiguous array; up to NumPy 2.2.1 that updated ``x``'s flags
  (numpy/numpy#28042).
- ``flat-byteorder``: every thread assigns ``y.flat[x] = x`` with its own
  ``y``; up to 2.2.1 that wrote the byte order of NumPy's process-wide
  ``intp`` descriptor (numpy/numpy#28143).
- ``ufunc-at-flags``: every thread calls ``np.add.at`` on its own array
  with one shared ``values`` array; ``PyArray_BroadcastToShape`` updates
  the flags of ``values`` (numpy/numpy#30540, open).
- ``writeable``: thread 0 sets ``a.flags.writeable`` to False and back; the
  others read ``a.flags.writeable`` (numpy/numpy#30540, open).
- ``sort-order``: thread 0 calls ``a.argsort(order="y")`` on a shared
  structured array, which swaps ``a``'s dtype for a reordered copy and back;
  the others read ``a.dtype.names``, and count the reordered names they see.
  This one can corrupt memory: ``a.dtype`` reads the dtype pointer twice
  (once to take a reference, once to return it), and thread 0 frees the
  copy it swapped in, so a dtype can be left with a reference too few.
- ``nonzero``: thread 0 fills ``a`` with new values; the others call
  ``np.nonzero(a)``: a race on the array's *data*, which NumPy's own
  ThreadSanitizer job suppresses (numpy/numpy#28361).

A run whose threads are still busy ``WEDGED_AFTER`` seconds after its
``--timeout`` (memory corrupted by the race, say) prints every thread's
stack and exits 1 without a summary line.
"""

import faulthandler
import sys

import numpy as np

from thread_harness import finish, parser, run_threaded

# The keys of its --json summary besides the harness's (the book reads them by name).
SUMMARY_KEYS = ("case", "calls", "surprises")
WEDGED_AFTER = 30.0  # seconds past --timeout: time enough for every thread to stop and the summary to print


def flat_flags():
    shared = np.arange(20).reshape(5, 4).T  # not C-contiguous: the iterator looked at its flags
    step = lambda: list(shared.flat)  # noqa: E731 - one expression per part
    return step, step


def flat_byteorder():
    index = np.arange(10)  # intp: converting it passed NumPy's shared intp descriptor along

    def step():
        mine = np.arange(10)
        mine.flat[index] = index

    return step, step


def ufunc_at_flags():
    values = np.ones(4)  # shared; each thread adds it into an array of its own

    def step():
        np.add.at(np.zeros(8), [0, 1, 2, 3], values)

    return step, step


def writeable():
    shared = np.zeros(8)

    def toggle():
        shared.flags.writeable = False
        shared.flags.writeable = True

    def read():
        shared.flags.writeable  # noqa: B018 - the read is the point

    return toggle, read


def sort_order():
    shared = np.zeros(64, dtype=[("x", "i8"), ("y", "i8")])
    names = shared.dtype.names

    def read():
        return shared.dtype.names != names  # True: this thread saw the reordered copy

    return lambda: shared.argsort(order="y"), read


def nonzero():
    shared = np.zeros(256, dtype=np.int64)
    counter = iter(range(1, 10**12))

    def fill():
        shared[:] = next(counter) % 2

    return fill, lambda: np.nonzero(shared)


CASES = {
    "flat-flags": flat_flags,
    "flat-byteorder": flat_byteorder,
    "ufunc-at-flags": ufunc_at_flags,
    "writeable": writeable,
    "sort-order": sort_order,
    "nonzero": nonzero,
}


def replay(case, threads, iterations, timeout):
    """Run *case*'s first part on thread 0 and its second on the others; returns the counts."""
    first, second = CASES[case]()
    counts = [{"calls": 0, "surprises": 0} for _ in range(threads)]

    def worker(part, mine):
        def loop(run):
            for _ in range(iterations):
                if not run.running():
                    return
                if part() is True:  # only sort-order's reader returns True, when it saw a surprise
                    mine["surprises"] += 1
                mine["calls"] += 1
        return loop

    parts = [first] + [second] * (threads - 1)
    run = run_threaded([worker(part, mine) for part, mine in zip(parts, counts, strict=True)],
                       timeout=timeout)
    return {key: sum(c[key] for c in counts) for key in counts[0]}, run


def main(argv=None):
    cli = parser(__doc__, threads=2, iterations=200, timeout=60.0,
                 meaning={"threads": "threads (thread 0 runs the first part)"})
    cli.add_argument("--case", choices=sorted(CASES), default="flat-flags",
                     help="which race to replay (default flat-flags)")
    args = cli.parse_args(argv)
    if args.threads < 2:
        cli.error("--threads must be at least 2: a race needs two threads")
    # A wedged process ignores the deadline (its threads never look at it), and a stuck thread would hold
    # the interpreter's exit too; faulthandler's own C thread ends it, with the stacks to say where.
    faulthandler.dump_traceback_later(args.timeout + WEDGED_AFTER, exit=True)
    totals, run = replay(args.case, args.threads, args.iterations, args.timeout)
    return finish(args, run, example="numpy_races", case=args.case, race_observed=totals["surprises"] > 0,
                  text=f"{args.case}: {totals['calls']} calls on {args.threads} threads, "
                       f"{totals['surprises']} surprises", **totals)


if __name__ == "__main__":
    sys.exit(main())
