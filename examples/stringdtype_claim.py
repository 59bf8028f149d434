# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy"]
# ///
"""Which array owns a StringDType descriptor, and can two threads both claim one?

A StringDType descriptor carries the arena its array's strings live in, so
each array needs one of its own. NumPy gives a new array the descriptor it
was asked for if no array has claimed it yet (a one-byte "owned" flag:
checked, then set, with no lock up to NumPy 2.2.5), and a copy otherwise
(numpy/numpy#28813, fixed in 2.2.6).

  --mode claim   one thread: make two arrays with ``dtype=np.dtypes.StringDType``
                 (the class) and compare how many references each one's
                 descriptor has. Up to 2.2.5 the first array is handed NumPy's
                 process-wide default instance and keeps it (NumPy holds more
                 references to it than to the second array's private copy);
                 from 2.2.6 that instance is born claimed, and both get copies.
  --mode stress  many rounds of: one thread makes a fresh ``StringDType()``,
                 then it and a second, waiting thread each make an array with
                 it at once; counts the rounds in which both arrays got that
                 same descriptor (both claimed it).

Exit status 1: the first array holds a shared descriptor (claim), or two
arrays claimed the same one (stress).

    python stringdtype_claim.py --mode claim --json
    python stringdtype_claim.py --mode stress --iterations 5000 --json
"""

import sys

import numpy as np

from thread_harness import finish, parser, run_threaded

# The keys of its --json summary besides the harness's: the book's chapters and tests
# read them by name, so renaming one changes a contract (the book's nox -s uses -- stringdtype_claim.py).
SUMMARY_KEYS = ("mode", "extra_references", "same_descriptor", "rounds", "both_claimed")


def claim(args):
    run = run_threaded([lambda run: None], timeout=args.timeout)  # no threads to race: one-thread facts
    first = np.zeros(1, dtype=np.dtypes.StringDType)  # the first array of this process made from the class
    second = np.zeros(1, dtype=np.dtypes.StringDType)
    # Measured the same way for both, so what the call itself holds cancels out.
    extra = sys.getrefcount(first.dtype) - sys.getrefcount(second.dtype)
    return finish(args, run, example="stringdtype_claim", race_observed=extra > 0,
                  text=f"the first array's descriptor has {extra} more references than the second's"
                       + (": it is shared with NumPy itself" if extra > 0 else ": both are private copies"),
                  mode="claim", extra_references=extra, same_descriptor=first.dtype is second.dtype)


def stress(args):
    state = {"round": 0, "descr": None, "follower_made": None, "follower_done": 0}
    both = [0]

    def leader(run):  # publishes a fresh descriptor, makes its array with it at once, compares
        for number in range(1, args.iterations + 1):
            if not run.running():
                return
            state["descr"] = np.dtypes.StringDType()  # fresh: nobody owns it yet
            state["round"] = number  # the follower is spinning on this
            mine = np.empty(1, dtype=state["descr"]).dtype
            while state["follower_done"] != number:
                if not run.running():
                    return
            both[0] += mine is state["follower_made"]  # two arrays, one descriptor: both claimed it

    def follower(run):
        seen = 0
        while seen < args.iterations and run.running():
            if state["round"] == seen:
                continue  # spin: a sleep would make the two threads meet less often
            seen = state["round"]
            state["follower_made"] = np.empty(1, dtype=state["descr"]).dtype
            state["follower_done"] = seen

    run = run_threaded([leader, follower], timeout=args.timeout)
    rounds = state["follower_done"]
    return finish(args, run, example="stringdtype_claim", race_observed=both[0] > 0,
                  text=f"{rounds} rounds: in {both[0]} both threads' arrays got the same descriptor",
                  mode="stress", rounds=rounds, both_claimed=both[0])


def main(argv=None):
    made = parser(__doc__, threads=None, iterations=5000, timeout=30.0,
                  meaning={"iterations": "stress: rounds"})
    made.add_argument("--mode", choices=["claim", "stress"], default="claim",
                      help="who owns the descriptor (one thread), or two threads racing (default claim)")
    args = made.parse_args(argv)
    return claim(args) if args.mode == "claim" else stress(args)


if __name__ == "__main__":
    sys.exit(main())
