# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy"]
# ///
"""Look at a structured array while another thread argsorts it by a field.

``a.argsort(order="y")`` returns indices and leaves ``a`` alone, or seems
to. NumPy (2.5 included) replaces a's own dtype pointer with a copy whose
field names are reordered, ``("y", "x")``, sorts, then puts the old dtype
back and drops the copy: a mutate-then-restore on the dtype of an array
the caller only lent it. ``a[["y", "x"]].argsort()`` gives the same order
from a new view and never touches ``a``.

  --sorter order  a.argsort(order="y")  (swaps a's dtype: racy)
  --sorter view   a[["y", "x"]].argsort()  (a new array object: default)

  --mode forced  an object field's ``__lt__``, which the sort calls while it
                 runs, wakes a reader thread and waits until it has read
                 ``a.dtype.names``: with --sorter order the reader sees
                 ("y", "x"), every time, with the GIL off or on
  --mode stress  one thread argsorts a numeric structured array in a loop,
                 the others read ``a.dtype.names``; counts the reordered
                 names they see. A crash shows as a signal.

    python sort_order_window.py --sorter order --mode forced --json
    python sort_order_window.py --sorter order --mode stress --iterations 500 --json
"""

import sys
import threading

import numpy as np

from thread_harness import finish, parser, run_threaded, whole_number

# The keys of its --json summary besides the harness's: the book's chapters and tests
# read them by name, so renaming one changes a contract (the book's nox -s uses -- sort_order_window.py).
SUMMARY_KEYS = (
    "mode", "sorter", "hook_saw", "reader_saw", "result", "final_names", "size", "sorts", "reads",
    "odd_reads", "seen",
)

NAMES = ("x", "y")
SORTERS = {
    "order": lambda a: a.argsort(order="y"),  # swaps a's dtype for one named ("y", "x"), then back
    "view": lambda a: a[["y", "x"]].argsort(),  # the same order, from a new view with its own dtype
}


class Key:
    """An object-field value whose comparison runs a hook once (the sort calls it inside the swap)."""

    hook = None

    def __init__(self, value):
        self.value = value

    def __lt__(self, other):
        hook, Key.hook = Key.hook, None
        if hook is not None:
            hook()
        return self.value < other.value


def forced(args):
    shared = np.array([(Key(2), Key(1)), (Key(1), Key(2))], dtype=[("x", object), ("y", object)])
    in_window, looked, seen = threading.Event(), threading.Event(), {}

    def caller(run):
        def hook():  # inside the sort: with --sorter order, between the swap and the restore
            seen["hook"] = shared.dtype.names
            in_window.set()
            run.wait_for(looked)

        Key.hook = hook
        seen["order"] = SORTERS[args.sorter](shared).tolist()

    def reader(run):
        if run.wait_for(in_window):
            seen["reader"] = shared.dtype.names  # another thread, at that moment
        looked.set()

    run = run_threaded([caller, reader], timeout=args.timeout)
    reader_saw = seen.get("reader")
    return finish(args, run, example="sort_order_window", race_observed=reader_saw not in (None, NAMES),
                  text=f"inside argsort the hook saw {seen.get('hook')}, another thread saw {reader_saw}; "
                       f"afterwards {shared.dtype.names}",
                  mode="forced", sorter=args.sorter, hook_saw=_listed(seen.get("hook")),
                  reader_saw=_listed(reader_saw),
                  result=seen.get("order"), final_names=list(shared.dtype.names))


def stress(args):
    shared = np.zeros(args.size, dtype=[("x", "i4"), ("y", "f8")])
    shared["y"] = np.random.default_rng(0).random(args.size)
    sorts, reads, seen = [0], [0] * args.threads, {}
    sorting, sort = [True], SORTERS[args.sorter]

    def sorter(run):
        try:
            for _ in range(args.iterations):
                if not run.running():
                    return
                sort(shared)
                sorts[0] += 1
        finally:
            sorting[0] = False

    def reader(index):
        def loop(run):
            while run.running() and sorting[0]:
                names = shared.dtype.names  # only reads
                reads[index] += 1
                if names != NAMES:
                    seen[str(names)] = seen.get(str(names), 0) + 1
        return loop

    run = run_threaded([sorter, *(reader(i) for i in range(args.threads))], timeout=args.timeout)
    odd = sum(seen.values())
    return finish(args, run, example="sort_order_window", race_observed=odd > 0,
                  text=f"{sum(reads)} reads of dtype.names during {sorts[0]} argsorts: "
                       f"{odd} saw {sorted(seen)}",
                  mode="stress", sorter=args.sorter, size=args.size, sorts=sorts[0], reads=sum(reads),
                  odd_reads=odd, seen=seen,
                  final_names=list(shared.dtype.names))


def _listed(names):
    return None if names is None else list(names)


def main(argv=None):
    made = parser(__doc__, threads=1, iterations=500, timeout=30.0,
                  meaning={"threads": "stress: reader threads besides the sorter",
                           "iterations": "stress: argsorts"})
    made.add_argument("--sorter", choices=sorted(SORTERS), default="view",
                      help="argsort(order=) on the shared array, or on a new view (default view)")
    made.add_argument("--mode", choices=["forced", "stress"], default="forced",
                      help="one held-open window, or a sorter and readers in a loop (default forced)")
    made.add_argument("--size", type=whole_number(1, 10**7), default=1000,
                      help="stress: elements in the shared array (default 1000)")
    args = made.parse_args(argv)
    return forced(args) if args.mode == "forced" else stress(args)


if __name__ == "__main__":
    sys.exit(main())
