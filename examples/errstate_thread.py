# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy"]
# ///
"""What np.errstate does a new thread start with?

NumPy keeps its error settings in a context variable. On CPython 3.14's
free-threaded build a new thread starts with a copy of its starter's
context (sys.flags.thread_inherit_context); on 3.13, and on 3.14 with
PYTHON_THREAD_INHERIT_CONTEXT=0, it starts with an empty one, that is with
NumPy's defaults. This starts one thread inside np.errstate(divide="raise")
and reports what the thread sees.

    python errstate_thread.py --json
"""

import sys

import numpy as np

from thread_harness import finish, parser, run_threaded

# The keys of its --json summary besides the harness's: the book's chapters and tests
# read them by name, so renaming one changes a contract (the book's nox -s uses -- errstate_thread.py).
SUMMARY_KEYS = ("thread_inherit_context", "new_thread_divide")


def main(argv=None):
    args = parser(__doc__, threads=None, iterations=None, timeout=10.0).parse_args(argv)
    seen = {}

    def new_thread(run):
        seen["divide"] = np.geterr()["divide"]

    with np.errstate(divide="raise"):  # the starting thread's context
        run = run_threaded([new_thread], timeout=args.timeout)
    inherit = getattr(sys.flags, "thread_inherit_context", None)
    return finish(args, run, example="errstate_thread", race_observed=False,
                  text=f"a thread started inside np.errstate(divide='raise') sees "
                       f"divide={seen.get('divide')!r} "
                       f"(thread_inherit_context={inherit})",
                  thread_inherit_context=inherit, new_thread_divide=seen.get("divide"))


if __name__ == "__main__":
    sys.exit(main())
