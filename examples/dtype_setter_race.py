# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy"]
# ///
"""A reader sees a torn (shape, dtype) pair while another thread sets ``x.dtype``.

Setting ``x.dtype`` to a type of another size rewrites the array's metadata
in place, one field after another: the last dimension and its stride first,
the dtype pointer last (array_descr_set, numpy/_core/src/multiarray/getset.c
at v2.2.2, lines 459-508; deprecated in NumPy 2.5, #29575).
In between, ``x.nbytes`` (itemsize x size) is wrong: a (6,) int64 array
(48 bytes) briefly claims 96 bytes, shape (12,) with 8-byte items.
``x.view(new_dtype)`` makes the same change on a new array and leaves ``x``
alone.

  --writer setter  x.dtype = int32 / int64 on the shared array (deprecated, racy)
  --writer view    y = x.view(int32): a new array; x never changes (default)

--mode forced holds the setter's window open: the old dtype is dropped
between the two updates, and a ``__del__`` on an object in its metadata
waits there until a reader thread has looked. --mode stress runs a writer
and --threads readers in a loop and counts the torn reads.

    python dtype_setter_race.py --writer setter --mode forced --json
    python dtype_setter_race.py --writer setter --mode stress --iterations 200000
"""

import sys
import threading
import warnings

import numpy as np

from thread_harness import finish, parser, run_threaded

# The keys of its --json summary besides the harness's: the book's chapters and tests
# read them by name, so renaming one changes a contract (the book's nox -s uses -- dtype_setter_race.py).
SUMMARY_KEYS = (
    "writer", "mode", "torn", "reader_saw", "after", "warnings", "changes", "reads", "torn_nbytes",
    "torn_pairs", "torn_nbytes_values",
)

LENGTH = 6  # int64 items: 48 bytes, viewed as 12 int32 items
NBYTES = LENGTH * 8


def look(x):
    """What a reader sees: shape, strides and nbytes, each one attribute read."""
    return {"shape": list(x.shape), "strides": list(x.strides), "nbytes": x.nbytes}


def forced(writer_kind, timeout):
    opened, looked = threading.Event(), threading.Event()
    seen = {}

    class WaitInWindow:
        """Lives in the old dtype's metadata, so it is freed when the setter drops that dtype."""

        def __init__(self, run):
            self.run = run

        def __del__(self):
            opened.set()
            self.run.wait_for(looked)

    def writer(run):
        # Made in this thread, so that dropping the last reference frees the dtype at once.
        old = np.dtype(np.int64, metadata={"wait": WaitInWindow(run)})
        x = seen["x"] = np.zeros(LENGTH, dtype=old)
        del old  # x holds the only reference now
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if writer_kind == "setter":
                x.dtype = np.int32  # __del__ runs inside this statement
            else:
                seen["y"] = x.view(np.int32)
                opened.set()  # nothing of x's changes, so there is no window: look now
                run.wait_for(looked)
        seen["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]

    def reader(run):
        if run.wait_for(opened):
            seen["look"] = look(seen["x"])  # not x.dtype: in the window the old dtype is being freed
        looked.set()

    run = run_threaded([reader, writer], timeout=timeout)
    x, saw = seen.get("x"), seen.get("look")
    return run, saw is not None and saw["nbytes"] != NBYTES, {
        "reader_saw": saw,
        "after": None if x is None else {**look(x), "dtype": str(x.dtype)},
        "warnings": seen.get("warnings", []),
    }


def stress(writer_kind, readers, iterations, timeout):
    shared = np.zeros(LENGTH, dtype=np.int64)
    changes = [0]
    counts = [{"reads": 0, "torn_nbytes": 0, "torn_pairs": 0, "values": set()} for _ in range(readers)]

    def writer(run):
        for _ in range(iterations):
            if not run.running():
                return
            if writer_kind == "setter":
                shared.dtype = np.int32
                shared.dtype = np.int64
            else:
                shared.view(np.int32)
            changes[0] += 1
        run.stop()  # done: release the readers

    def reader(mine):
        def loop(run):
            while run.running():
                nbytes = shared.nbytes  # one attribute, computed in C from dims and itemsize
                if nbytes != NBYTES:
                    mine["torn_nbytes"] += 1
                    mine["values"].add(nbytes)
                if shared.shape[0] * shared.itemsize != NBYTES:  # two attributes, one after the other
                    mine["torn_pairs"] += 1
                mine["reads"] += 1
        return loop

    with warnings.catch_warnings():
        # One warning per setter call would drown the output; the forced mode records it.
        warnings.simplefilter("ignore", DeprecationWarning)
        run = run_threaded([writer, *map(reader, counts)], timeout=timeout)
    totals = {key: sum(c[key] for c in counts) for key in ("reads", "torn_nbytes", "torn_pairs")}
    return run, totals["torn_nbytes"] + totals["torn_pairs"] > 0, {
        "changes": changes[0], **totals,
        "torn_nbytes_values": sorted(set().union(*(c["values"] for c in counts))),
    }


def main(argv=None):
    made = parser(__doc__, threads=1, iterations=20000, timeout=30.0,
                  meaning={"threads": "stress: reader threads besides the writer",
                           "iterations": "stress: dtype changes by the writer"})
    made.add_argument("--writer", choices=["setter", "view"], default="view",
                      help="how the writer changes the dtype (default view, the safe one)")
    made.add_argument("--mode", choices=["forced", "stress"], default="stress",
                      help="one held-open window, or a writer and readers in a loop (default stress)")
    args = made.parse_args(argv)
    if args.mode == "forced":
        run, torn, fields = forced(args.writer, args.timeout)
        saw, after = fields["reader_saw"], fields["after"]
        text = (f"reader saw {saw} of a {LENGTH}-item int64 array ({NBYTES} bytes); "
                f"afterwards {after}: " + ("TORN" if torn else "whole"))
    else:
        run, torn, fields = stress(args.writer, args.threads, args.iterations, args.timeout)
        text = (f"{fields['changes']} dtype changes ({args.writer}), {fields['reads']} reads: "
                f"{fields['torn_nbytes']} torn nbytes {fields['torn_nbytes_values']}, "
                f"{fields['torn_pairs']} torn shape/itemsize pairs")
    return finish(args, run, example="dtype_setter_race", race_observed=torn, text=text,
                  writer=args.writer, mode=args.mode, torn=torn, **fields)


if __name__ == "__main__":
    sys.exit(main())
