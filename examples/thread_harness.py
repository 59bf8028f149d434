"""The small harness every example runs its threads with.

Copy this folder, not one file: each example imports this module from its
own folder. It holds the three things every example needs and none should
write again:

- **the command line**: ``--threads`` (1 to 256), ``--iterations``,
  ``--timeout`` and ``--json``, where bad input is one line on stderr and
  exit status 2, never a traceback or a hang;
- **the threads**: :func:`run_threaded` starts workers together at a
  barrier, stops them at a deadline, and carries every worker's exception
  back to the caller, where it is counted and reported as what it is, not
  as a time-out. When one worker fails, ``running()`` turns false for the
  others and ``wait_for(event)`` returns, so a dead writer never leaves its
  readers spinning or waiting;
- **the outcome**: :func:`finish` prints one summary (a JSON line with
  ``--json``) and returns the exit status:

  ====  ==========================================================
  0     nothing went wrong
  1     the race was observed
  2     bad arguments
  3     the time limit ran out first
  4     a worker thread raised an exception (``worker_errors``)
  ====  ==========================================================

  A crash (a race that corrupts memory) kills the process with a signal
  instead; run racy examples in a subprocess to see it as a result.

In the spirit of NumPy's ``run_threaded``, written for scripts rather than
tests. NumPy defines it in numpy/testing/_private/utils.py and exports it
from ``numpy.testing`` (both so at v2.2.2 and v2.5.2:
https://github.com/numpy/numpy/blob/v2.5.2/numpy/testing/_private/utils.py#L2810);
its own tests, such as numpy/_core/tests/test_multithreading.py, import it.
"""

import argparse
import json
import sys
import threading
import time
import traceback

MAX_THREADS = 256  # far above anything useful on a desktop; a typo must not start a billion threads
EXIT_OK, EXIT_RACE, EXIT_USAGE, EXIT_TIMEOUT, EXIT_WORKER_ERROR = 0, 1, 2, 3, 4
EXIT_HELP = ("exit status: 0 nothing went wrong; 1 the race was observed; 2 bad arguments; "
             "3 the time limit ran out first; 4 a worker thread raised; a crash shows as a signal")


def whole_number(low, high):
    """An argparse type: a whole number from *low* to *high*, else one line and exit 2."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, not {value}")
        return value

    return parse


def positive_seconds(text):
    """An argparse type: a number of seconds, more than 0 and at most an hour, else one line and exit 2."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be a number of seconds between 0 and 3600, not {text!r}")
    return value


class Parser(argparse.ArgumentParser):
    """argparse, but an error is one line and exit status 2 (no usage dump for a typo)."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def parser(doc, *, threads=4, iterations=1000, timeout=30.0, meaning=None):
    """A parser with the options every example shares; the example adds its own.

    ``threads=None`` or ``iterations=None`` leaves that option out, for an
    example whose threads or steps are fixed by what it shows. *meaning*
    says what an option counts in this example, for its help:
    ``{"threads": "reader threads besides the writer"}``.
    """
    meaning = {"threads": "worker threads", "iterations": "loop iterations per worker", **(meaning or {})}
    made = Parser(description=doc.split("\n\n")[0], epilog=EXIT_HELP)
    if threads is not None:
        made.add_argument("--threads", type=whole_number(1, MAX_THREADS), default=threads,
                          help=f"{meaning['threads']}, 1 to {MAX_THREADS} (default {threads})")
    if iterations is not None:
        made.add_argument("--iterations", type=whole_number(1, 10**9), default=iterations,
                          help=f"{meaning['iterations']} (default {iterations})")
    made.add_argument("--timeout", type=positive_seconds, default=timeout,
                      help=f"stop after this many seconds (default {timeout:g})")
    made.add_argument("--json", action="store_true", help="print one JSON summary line at the end")
    return made


class Run:
    """What happened to a set of worker threads (see :func:`run_threaded`)."""

    def __init__(self, timeout):
        self.started = time.monotonic()
        self.seconds = 0.0  # wall time of the whole run, set when it ends
        self.deadline = self.started + timeout
        self.errors = []  # "worker 2: ValueError: ..." per worker that raised
        self.deadline_hit = False
        self.stuck = []  # names of workers still running when run_threaded gave up on them
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def running(self):
        """True until the deadline passes, a worker fails, or :meth:`stop` is called.

        Cheap: call it in loops.
        """
        if self._stop.is_set():
            return False
        if time.monotonic() > self.deadline:
            self.deadline_hit = True
            return False
        return True

    def stop(self):
        """Tell every worker to finish (a writer that is done releases its readers with this)."""
        self._stop.set()

    def wait_for(self, event):
        """Wait until *event* is set (True) or the run ends (False): deadline, failed worker, :meth:`stop`.

        Use it instead of ``event.wait(timeout)``: a thread waiting for a
        dead one is then released at once, not at the deadline.
        """
        while not event.wait(0.01):
            if not self.running():
                return event.is_set()
        return True

    def _failed(self, name, error):
        frame = traceback.extract_tb(error.__traceback__)[-1]
        with self._lock:
            self.errors.append(f"{name}: {type(error).__name__}: {error} "
                               f"(at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})")
        self.stop()


def run_threaded(workers, *, timeout=None, run=None, grace=5.0):
    """Run each callable in *workers* in its own thread, all released at once; return a :class:`Run`.

    Each worker is called with the :class:`Run` and should loop ``while
    run.running()``. Returns when every worker has returned or raised, or
    *grace* seconds after the deadline if one is stuck (then ``deadline_hit``
    is set and ``stuck`` names it). Pass the *run* of an earlier call instead
    of a *timeout* to go on with it: the same deadline, the errors of every
    call together (a benchmark's many rounds, say).
    """
    if run is None:
        run = Run(timeout)
    start = threading.Barrier(len(workers))

    def body(name, worker):
        try:
            start.wait(timeout=max(1.0, run.deadline - time.monotonic()))
            worker(run)
        except threading.BrokenBarrierError:
            run.deadline_hit = True
        except BaseException as error:  # every failure is reported, none is lost
            run._failed(name, error)

    threads = [threading.Thread(target=body, args=(f"worker {i}", w), name=f"worker {i}", daemon=True)
               for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, run.deadline - time.monotonic()) + grace)
        if thread.is_alive():  # stuck past the deadline (a deadlock, say): report it, do not hang
            run.deadline_hit = True
            run.stuck.append(thread.name)
            run.stop()
    run.seconds = time.monotonic() - run.started
    return run


def gil_enabled():
    return sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True


def finish(args, run, *, example, race_observed, text, **fields):
    """Print the summary (JSON with ``--json``, else *text*) and return the exit status."""
    numpy = sys.modules.get("numpy")
    summary = {
        "example": example,
        "python": sys.version.split()[0],
        "numpy": getattr(numpy, "__version__", None),
        "gil_enabled": gil_enabled(),
        "threads": getattr(args, "threads", None),
        "iterations": getattr(args, "iterations", None),
        **fields,
        "seconds": round(run.seconds, 3),
        "worker_errors": run.errors,
        "timed_out": run.deadline_hit,
        "race_observed": bool(race_observed),
    }
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        gil = "on" if summary["gil_enabled"] else "off"
        numpy_version = f"NumPy {summary['numpy']}, " if numpy else ""  # a script may not use NumPy
        print(f"{text} ({numpy_version}GIL {gil})", flush=True)
        for error in run.errors:
            print(f"  error in {error}", flush=True)
    if run.errors:
        return EXIT_WORKER_ERROR
    if race_observed:
        return EXIT_RACE
    return EXIT_TIMEOUT if run.deadline_hit else EXIT_OK
