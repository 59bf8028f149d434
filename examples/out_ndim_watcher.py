# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy"]
# ///
"""Watch a 0-d ``out=`` array while another thread reduces into it.

``np.add.reduce(a, out=o)`` with a 0-d ``o`` should write only o's one
value. NumPy <= 2.2.6 also wrote o's number of dimensions: it set it to 1,
looked up the loop, and set it back to 0 ("evil_ndim_mutating_hack" in
reducelike_promote_and_resolve; removed in 2.3.0 by numpy/numpy#27997).
A 0-d array has no dims array at all, so a reader that believes
``ndim == 1`` and goes on to read the shape reads through a NULL pointer.

  --read ndim   the watcher reads o.ndim and counts the 1s (it only reads ints)
  --read shape  the watcher reads o.shape: catching the window kills the
                process with SIGSEGV, in the thread that only reads

    python out_ndim_watcher.py --iterations 200000 --json
    python out_ndim_watcher.py --read shape --json
"""

import sys

import numpy as np

from thread_harness import finish, parser, run_threaded

# The keys of its --json summary besides the harness's: the book's chapters and tests
# read them by name, so renaming one changes a contract (the book's nox -s uses -- out_ndim_watcher.py).
SUMMARY_KEYS = ("read", "calls", "reads", "odd_reads", "seen", "final_ndim", "sum_ok")


def main(argv=None):
    made = parser(__doc__, threads=1, iterations=100000, timeout=30.0)
    made.add_argument("--read", choices=["ndim", "shape"], default="ndim",
                      help="what the watcher reads of the shared 0-d out (default ndim)")
    args = made.parse_args(argv)
    values = np.arange(8.0)
    out = np.zeros(())  # shared: every reducer writes its sum here, the watcher reads it
    calls, reads, seen = [0] * args.threads, [0], {}
    still_reducing = [args.threads]

    def reducer(index):
        def loop(run):
            try:
                for _ in range(args.iterations):
                    if not run.running():
                        return
                    np.add.reduce(values, out=out)
                    calls[index] += 1
            finally:
                still_reducing[0] -= 1
        return loop

    def watcher(run):
        while run.running() and still_reducing[0] > 0:
            got = out.ndim if args.read == "ndim" else out.shape  # only reads
            reads[0] += 1
            if got not in (0, ()):
                seen[str(got)] = seen.get(str(got), 0) + 1

    run = run_threaded([*(reducer(i) for i in range(args.threads)), watcher], timeout=args.timeout)
    odd = sum(seen.values())
    return finish(args, run, example="out_ndim_watcher", race_observed=odd > 0,
                  text=f"{reads[0]} reads of out.{args.read} during {sum(calls)} reductions: "
                       f"{odd} saw something other than a 0-d array {sorted(seen)}",
                  read=args.read, calls=sum(calls), reads=reads[0], odd_reads=odd, seen=seen,
                  final_ndim=out.ndim, sum_ok=bool(out == values.sum()))


if __name__ == "__main__":
    sys.exit(main())
