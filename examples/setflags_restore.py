# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy"]
# ///
"""A failed ``setflags`` call undoes another thread's ``flags.writeable = False``.

``ndarray.setflags`` keeps a copy of the array's flags from the moment it
is called. On two of its error paths it writes that whole copy back, not
just the bit it was changing. In between it asks its arguments for their
truth value: ``__bool__``, Python code. Here one thread calls
``shared.setflags(uic=Flag())``, and ``Flag.__bool__`` lets a second thread
make the shared array read-only first.

  --flag true   Flag() is true: setting WRITEBACKIFCOPY is always refused, and
                the refusal restores the old flags. The array is writeable
                again: the second thread's change is lost. Deterministic, on
                any NumPy, with the GIL off or on.
  --flag false  Flag() is false: the call succeeds and clears only its own
                bit; the second thread's change stays (default)

    python setflags_restore.py --flag true --json
"""

import sys
import threading

import numpy as np

from thread_harness import finish, parser, run_threaded

# The keys of its --json summary besides the harness's: the book's chapters and tests
# read them by name, so renaming one changes a contract (the book's nox -s uses -- setflags_restore.py).
SUMMARY_KEYS = ("flag", "writeable_after_protect", "writeable_inside", "error", "writeable_final")


def main(argv=None):
    made = parser(__doc__, threads=None, iterations=None, timeout=10.0)
    made.add_argument("--flag", choices=["true", "false"], default="false",
                      help="what Flag() says: true makes setflags fail (default false)")
    args = made.parse_args(argv)
    shared = np.zeros(4)
    in_call, protected, seen = threading.Event(), threading.Event(), {}

    def caller(run):
        class Flag:
            def __bool__(self):  # called by setflags after it copied the flags
                in_call.set()
                run.wait_for(protected)  # until the other thread has made `shared` read-only
                seen["inside"] = bool(shared.flags.writeable)
                return args.flag == "true"

        try:
            shared.setflags(uic=Flag())
        except ValueError as error:
            seen["error"] = str(error)

    def protector(run):
        if run.wait_for(in_call):
            shared.flags.writeable = False  # "nobody writes to this array from now on"
            seen["after_protect"] = bool(shared.flags.writeable)
        protected.set()

    run = run_threaded([caller, protector], timeout=args.timeout)
    final = bool(shared.flags.writeable)
    lost = seen.get("after_protect") is False and final
    return finish(args, run, example="setflags_restore", race_observed=lost,
                  text=f"the other thread made the array read-only (writeable={seen.get('after_protect')}); "
                       f"setflags failed with {seen.get('error')!r}; afterwards writeable={final}",
                  flag=args.flag, writeable_after_protect=seen.get("after_protect"),
                  writeable_inside=seen.get("inside"),
                  error=seen.get("error"), writeable_final=final)


if __name__ == "__main__":
    sys.exit(main())
