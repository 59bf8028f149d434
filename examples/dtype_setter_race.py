"""A reader sees a torn (shape, dtype) pair while another thread sets ``x.dtype``.

Setting ``x.dtype`` to a type of another size rewrites the array's metadata
in place, one field after another: the last dimension and its stride first,
the dtype pointer last (numpy/numpy#28727; deprecated in NumPy 2.5, #29575).
In between, ``x.nbytes`` (itemsize x size) is wrong: a (6,) int64 array
(48 bytes) briefly claims 96 bytes, shape (12,) with 8-byte items.
``x.view(new_dtype)`` makes the same change on a new array and leaves ``x``
alone.

  --writer setter  x.dtype = int32 / int64 on the shared array (deprecated, racy)
  --writer view    y = x.view(int32): a new array; x never changes (default)

--mode forced holds the setter's window open: the old dtype is dropped
between the two updates, and a ``__del__`` on an object in its metadata
waits there until a reader thread has looked. --mode stress runs a writer
and a reader in a loop and counts the torn reads.

Exit status: 0 the reader only ever saw a whole array, 1 it saw a torn one,
2 bad arguments, 3 the time limit ran out first; a crash shows as a signal.

    python dtype_setter_race.py --writer setter --mode forced --json
    python dtype_setter_race.py --writer setter --mode stress --iterations 200000
"""

import argparse
import json
import sys
import threading
import time
import warnings

import numpy as np

LENGTH = 6  # int64 items: 48 bytes, viewed as 12 int32 items
NBYTES = LENGTH * 8


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
    parser = Parser(description=__doc__.split("\n\n")[0], epilog="Exit 0: clean; 1: torn read observed; "
                    "2: bad arguments; 3: time limit; killed by a signal: crashed.")
    parser.add_argument("--writer", choices=["setter", "view"], default="view",
                        help="how the writer changes the dtype (default view, the safe one)")
    parser.add_argument("--mode", choices=["forced", "stress"], default="stress",
                        help="one held-open window, or a writer and a reader in a loop (default stress)")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="stress: reader threads besides the writer (default 1)")
    parser.add_argument("--iterations", type=positive_int, default=20000,
                        help="stress: dtype changes by the writer (default 20000)")
    parser.add_argument("--timeout", type=positive_float, default=30.0,
                        help="give up after this many seconds (default 30)")
    parser.add_argument("--json", action="store_true", help="print one JSON summary line at the end")
    return parser.parse_args(argv)


def look(x):
    """What a reader sees: shape, strides and nbytes, each one attribute read."""
    return {"shape": list(x.shape), "strides": list(x.strides), "nbytes": x.nbytes}


def forced(writer_kind, timeout):
    opened, looked = threading.Event(), threading.Event()
    seen = {}

    class WaitInWindow:
        """Lives in the old dtype's metadata, so it is freed when the setter drops that dtype."""

        def __del__(self):
            opened.set()
            looked.wait(timeout)

    def writer():
        # Made in this thread, so that dropping the last reference frees the dtype at once.
        old = np.dtype(np.int64, metadata={"wait": WaitInWindow()})
        x = np.zeros(LENGTH, dtype=old)
        del old  # x holds the only reference now
        seen["x"] = x
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if writer_kind == "setter":
                x.dtype = np.int32  # __del__ runs inside this statement
            else:
                seen["y"] = x.view(np.int32)
                opened.set()  # nothing of x's changes, so there is no window: look now
                looked.wait(timeout)
        seen["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]

    def reader():
        if opened.wait(timeout):
            seen["look"] = look(seen["x"])  # not x.dtype: in the window the old dtype is being freed
        looked.set()

    pool = [threading.Thread(target=reader, daemon=True), threading.Thread(target=writer, daemon=True)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout + 5)
    x = seen["x"]
    return {
        "reader_saw": seen.get("look"),
        "after": {**look(x), "dtype": str(x.dtype)},
        "warnings": seen.get("warnings", []),
        "torn": seen.get("look", {}).get("nbytes", NBYTES) != NBYTES,
        "timed_out": "look" not in seen or any(t.is_alive() for t in pool),
    }


def stress(writer_kind, readers, iterations, timeout):
    shared = np.zeros(LENGTH, dtype=np.int64)
    deadline = time.monotonic() + timeout
    start = threading.Barrier(readers + 1)
    writer_done = threading.Event()
    counts = {"changes": 0}
    per_reader = [{"reads": 0, "torn_nbytes": 0, "torn_pairs": 0, "examples": set()} for _ in range(readers)]

    def writer():
        start.wait()
        for _ in range(iterations):
            if time.monotonic() > deadline:
                break
            if writer_kind == "setter":
                shared.dtype = np.int32
                shared.dtype = np.int64
            else:
                shared.view(np.int32)
            counts["changes"] += 1
        writer_done.set()

    def reader(mine):
        start.wait()
        while not writer_done.is_set():
            nbytes = shared.nbytes  # one attribute, computed in C from dims and itemsize
            if nbytes != NBYTES:
                mine["torn_nbytes"] += 1
                mine["examples"].add(nbytes)
            if shared.shape[0] * shared.itemsize != NBYTES:  # two attributes, read one after the other
                mine["torn_pairs"] += 1
            mine["reads"] += 1

    pool = [threading.Thread(target=writer, daemon=True)]
    pool += [threading.Thread(target=reader, args=(c,), daemon=True) for c in per_reader]
    with warnings.catch_warnings():
        # One warning per setter call would drown the output; the forced mode records it.
        warnings.simplefilter("ignore", DeprecationWarning)
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(max(0.0, deadline - time.monotonic()) + 5)
    return {
        "changes": counts["changes"],
        "reads": sum(c["reads"] for c in per_reader),
        "torn_nbytes": sum(c["torn_nbytes"] for c in per_reader),
        "torn_pairs": sum(c["torn_pairs"] for c in per_reader),
        "torn_nbytes_values": sorted(set().union(*(c["examples"] for c in per_reader))),
        "torn": any(c["torn_nbytes"] or c["torn_pairs"] for c in per_reader),
        "timed_out": counts["changes"] < iterations,
    }


def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()
    if args.mode == "forced":
        result = forced(args.writer, args.timeout)
    else:
        result = stress(args.writer, args.threads, args.iterations, args.timeout)
    summary = {
        "example": "dtype_setter_race",
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "gil_enabled": sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True,
        "writer": args.writer,
        "mode": args.mode,
        **result,
        "race_observed": result["torn"],
        "seconds": round(time.monotonic() - started, 3),
    }
    if args.json:
        print(json.dumps(summary), flush=True)
    elif args.mode == "forced":
        print(f"reader saw {summary['reader_saw']} of a {LENGTH}-item int64 array ({NBYTES} bytes); "
              f"afterwards {summary['after']}: " + ("TORN" if result["torn"] else "whole"))
    else:
        print(f"{summary['changes']} dtype changes ({args.writer}), {summary['reads']} reads: "
              f"{summary['torn_nbytes']} torn nbytes {summary['torn_nbytes_values']}, "
              f"{summary['torn_pairs']} torn shape/itemsize pairs "
              f"(GIL {'on' if summary['gil_enabled'] else 'off'})")
    if result["torn"]:
        return 1
    return 3 if result["timed_out"] else 0


if __name__ == "__main__":
    sys.exit(main())
