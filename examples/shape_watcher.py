# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy"]
# ///
"""Watch a shared array's shape while other threads call np.repeat on it.

np.repeat only *reads* its input, so the input's shape should never change.
Up to NumPy 2.2.2 it did, for a moment, when the input was C-contiguous,
aligned and writeable (any other input it copied first): PyArray_Repeat
wrote the result's length into the input's own dims and wrote the old length
back (numpy/numpy#28197). A watcher thread that reads ``.shape`` in a loop
can catch that moment. It only reads, so it shows the race without crashing.

``--layout strided`` watches a non-contiguous (4, 3) view instead: np.repeat
works on a private contiguous copy of it and never writes its dims.
``--dtype object`` repeats an array of Python objects. NumPy 2.1.0 to 2.4.6
allocates such zero-filled results (1 KiB and more) with the GIL released
(2.5.0 no longer does: numpy/numpy#30846, commit 316f598b06); the window
exists only up to 2.2.2, and there this lets another thread run inside it
even with the GIL on.

    python shape_watcher.py --threads 1 --iterations 200000 --json
    python shape_watcher.py --layout strided --json
"""

import sys

import numpy as np

from thread_harness import finish, parser, run_threaded

# The keys of its --json summary besides the harness's: the book's chapters and tests
# read them by name, so renaming one changes a contract (the book's nox -s uses -- shape_watcher.py).
SUMMARY_KEYS = ("layout", "dtype", "calls", "reads", "transient_reads", "transient_shapes")

SHAPE, REPEATS = (4, 3), 5
LAYOUTS = {
    # C-contiguous: PyArray_CheckAxis returns this very array, the case that raced.
    "contiguous": lambda dtype: np.arange(12, dtype=dtype).reshape(SHAPE),
    # Every other column of a (4, 6) array: same shape, not contiguous.
    "strided": lambda dtype: np.arange(24, dtype=dtype).reshape(SHAPE[0], 2 * SHAPE[1])[:, ::2],
}
# REPEATS for object arrays: 4 x 3 objects x 100 = 9.6 KB, above the 1 KiB at
# which the default allocator of NumPy 2.1.0 to 2.4.6 drops the GIL to
# zero-fill (the np.repeat window it opens to other threads: up to 2.2.2).
REPEATS_FOR = {"int64": REPEATS, "object": 100}


def main(argv=None):
    made = parser(__doc__, threads=1, iterations=20000, timeout=30.0)
    made.add_argument("--layout", choices=sorted(LAYOUTS), default="contiguous",
                      help="the shared (4, 3) array: contiguous (raced) or a strided view "
                           "(default contiguous)")
    made.add_argument("--dtype", choices=sorted(REPEATS_FOR), default="int64",
                      help="what the array holds (default int64)")
    args = made.parse_args(argv)
    shared = LAYOUTS[args.layout](args.dtype)
    repeats = REPEATS_FOR[args.dtype]
    seen, reads, calls = {}, [0], [0] * args.threads  # seen: transient shape -> how many reads saw it
    still_repeating = [args.threads]

    def repeater(index):
        def loop(run):
            try:
                for _ in range(args.iterations):
                    if not run.running():
                        return
                    np.repeat(shared, repeats, axis=0)
                    calls[index] += 1
            finally:
                still_repeating[0] -= 1
        return loop

    def watcher(run):
        while run.running() and still_repeating[0] > 0:
            shape = shared.shape  # the only thing this thread does: read
            reads[0] += 1
            if shape != SHAPE:
                seen[shape] = seen.get(shape, 0) + 1

    run = run_threaded([*(repeater(i) for i in range(args.threads)), watcher], timeout=args.timeout)
    transient = sum(seen.values())
    return finish(args, run, example="shape_watcher", race_observed=transient > 0,
                  text=f"{reads[0]} reads of .shape during {sum(calls)} np.repeat calls: "
                       f"{transient} saw a shape other than {SHAPE} {sorted(map(str, seen))}",
                  layout=args.layout, dtype=args.dtype, calls=sum(calls), reads=reads[0],
                  transient_reads=transient, transient_shapes=sorted(str(s) for s in seen))


if __name__ == "__main__":
    sys.exit(main())
