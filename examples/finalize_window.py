# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy"]
# ///
"""Stand inside np.repeat's window with nothing but Python: an ndarray subclass.

NumPy <= 2.2.2's PyArray_Repeat wrote the result's length into its input's
own dims, created the result, and wrote the old length back. Creating the
result calls the subclass's ``__array_finalize__(result, input)``: Python
code, run while the input holds the wrong length. Here that hook records the
input's shape, then lets a second thread read the shared array's shape and
waits until it has. With the GIL off, or on (waiting releases it), the second
thread sees the window; on NumPy >= 2.2.3, which writes only a local copy of
the dims, nobody does.

    python finalize_window.py --json
    PYTHON_GIL=1 python finalize_window.py --json
"""

import sys
import threading

import numpy as np

from thread_harness import finish, parser, run_threaded

# The keys of its --json summary besides the harness's: the book's chapters and tests
# read them by name, so renaming one changes a contract (the book's nox -s uses -- finalize_window.py).
SUMMARY_KEYS = (
    "shape", "hook_ran", "hook_saw", "reader_saw", "input_is_shared", "result_shape", "final_shape",
)

SHAPE, REPEATS = (4, 3), 5


class Watched(np.ndarray):
    """An ndarray whose __array_finalize__ hands control to another thread once."""

    hook = None  # set to a callable(obj) to arm it

    def __array_finalize__(self, obj):
        hook, Watched.hook = Watched.hook, None  # once: the reader's own reads must not re-enter
        if hook is not None and obj is not None:
            hook(obj)


def main(argv=None):
    args = parser(__doc__, threads=None, iterations=None, timeout=10.0).parse_args(argv)
    shared = np.arange(12).reshape(SHAPE).view(Watched)  # C-contiguous: np.repeat gets it as is
    in_window, looked = threading.Event(), threading.Event()
    seen = {}

    def caller(run):
        def hook(obj):  # runs inside PyArray_Repeat, between its two writes to obj's dims (NumPy <= 2.2.2)
            seen["input_is_shared"] = obj is shared
            seen["inside"] = obj.shape
            in_window.set()
            run.wait_for(looked)  # hold the window open until the reader has looked

        Watched.hook = hook
        seen["result"] = np.repeat(shared, REPEATS, axis=0).shape

    def reader(run):
        if run.wait_for(in_window):  # released at once if the caller died first
            seen["reader"] = shared.shape  # another thread, at that very moment
        looked.set()

    run = run_threaded([caller, reader], timeout=args.timeout)
    race = seen.get("reader", SHAPE) != SHAPE
    return finish(args, run, example="finalize_window", race_observed=race,
                  text=f"from inside the window the input was {seen.get('inside')}; "
                       f"another thread saw {seen.get('reader')}; the result is {seen.get('result')}",
                  shape=list(SHAPE), hook_ran="inside" in seen, hook_saw=_listed(seen.get("inside")),
                  reader_saw=_listed(seen.get("reader")), input_is_shared=seen.get("input_is_shared"),
                  result_shape=_listed(seen.get("result")), final_shape=list(shared.shape))


def _listed(shape):
    return None if shape is None else list(shape)


if __name__ == "__main__":
    sys.exit(main())
