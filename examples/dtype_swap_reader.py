# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy"]
# ///
"""Call np.result_type on an array while another thread replaces its dtype.

``x.dtype = new`` (deprecated in NumPy 2.5, still working) drops x's old
dtype and stores the new one. If x held the only reference, the old dtype
is freed there. ``np.result_type(x, ...)`` in another thread reads x's
dtype pointer *without* taking a reference, and goes on using it: if the
setter frees it in between, the reader works on freed memory
(numpy/numpy#28727). The new dtype has the same itemsize as the old, so
the setter changes no shape or strides: only the pointer swap races.

  --writer setter  x.dtype = a freshly made dtype (the old one dies at once)
  --writer view    y = x.view(a freshly made dtype): x is never changed

What freed memory does next is not predictable: a crash (a signal), a
nonsense exception in either thread (exit 4), a hang (the time limit), or
nothing at all.

    python dtype_swap_reader.py --writer setter --json
    python dtype_swap_reader.py --writer view --json
"""

import sys
import warnings

import numpy as np

from thread_harness import finish, parser, run_threaded

# The keys of its --json summary besides the harness's: the book's chapters and tests
# read them by name, so renaming one changes a contract (the book's nox -s uses -- dtype_swap_reader.py).
SUMMARY_KEYS = ("writer", "writes", "reads")


def fresh_dtype():
    """A new structured dtype object each call: nobody else holds a reference to it."""
    return np.dtype([("f", [("g", "<i2")])])


def main(argv=None):
    made = parser(__doc__, threads=1, iterations=100000, timeout=30.0)
    made.add_argument("--writer", choices=["setter", "view"], default="view",
                      help="replace x's dtype in place (racy) or make a view (default view)")
    args = made.parse_args(argv)
    warnings.simplefilter("ignore", DeprecationWarning)  # NumPy >= 2.5 warns on every x.dtype = ...
    x = np.zeros(4, dtype=fresh_dtype())
    writes, reads = [0], [0] * args.threads
    writing = [True]

    def writer(run):
        try:
            for _ in range(args.iterations):
                if not run.running():
                    return
                if args.writer == "setter":
                    x.dtype = fresh_dtype()  # the old dtype's last reference goes here
                else:
                    x.view(fresh_dtype())
                writes[0] += 1
        finally:
            writing[0] = False

    def reader(index):
        def loop(run):
            while run.running() and writing[0]:
                np.result_type(x, x)  # reads x's dtype pointer, borrowed
                reads[index] += 1
        return loop

    run = run_threaded([writer, *(reader(i) for i in range(args.threads))], timeout=args.timeout)
    return finish(args, run, example="dtype_swap_reader", race_observed=bool(run.errors),
                  text=f"{writes[0]} dtype changes ({args.writer}) during {sum(reads)} np.result_type calls",
                  writer=args.writer, writes=writes[0], reads=sum(reads))


if __name__ == "__main__":
    sys.exit(main())
