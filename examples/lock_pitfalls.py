"""Three ways a threading.Lock fails to protect shared array state, and the fixes.

The shared state is a growable buffer: a NumPy array ``data`` and the count
``size`` of the items in use, two fields that must change together (like an
array's dims and strides). Each pitfall has a broken and a fixed variant:

  writer-only     the writer locks, the reader does not: the reader combines the
                  new data with the old size, a state that never existed.
                  Fix: the reader takes the same lock.
  check-then-act  two threads read size, then both write item number size:
                  one item is lost. Fix: check and act under one lock; or
                  (--variant confined) give each thread a buffer of its own
                  and merge them once the threads are done.
  callback        the lock is held while calling user code, which calls back into
                  the buffer and waits for the lock its own thread holds: deadlock.
                  Fix: call user code outside the lock, publish under it.

--mode forced (default) runs one deterministic interleaving (events hold
the first thread inside its window until the second has acted); --mode
stress runs --threads threads in a loop and counts what went wrong.

Exit status: 0 nothing went wrong, 1 the pitfall was observed (torn read,
lost item, deadlock), 2 bad arguments, 3 the time limit ran out first.

    python lock_pitfalls.py --pitfall writer-only --variant broken --json
    python lock_pitfalls.py --pitfall check-then-act --mode stress --threads 4
"""

import argparse
import json
import os
import sys
import threading
import time

import numpy as np

OLD, NEW = np.arange(1, 4), np.arange(10, 70, 10)  # the two states writer-only switches between
LINGER = 0.05  # seconds a lock holder waits once the other thread is blocked on its lock


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
    parser = Parser(description=__doc__.split("\n\n")[0], epilog="Exit 0: clean; 1: pitfall observed; "
                    "2: bad arguments; 3: time limit.")
    parser.add_argument("--pitfall", choices=["writer-only", "check-then-act", "callback"],
                        default="writer-only", help="which pitfall (default writer-only)")
    parser.add_argument("--variant", choices=["broken", "fixed", "confined"], default="fixed",
                        help="the pitfall, its fix with the lock, or (check-then-act only) thread "
                        "confinement instead of a lock (default fixed)")
    parser.add_argument("--mode", choices=["forced", "stress"], default="forced",
                        help="one deterministic interleaving, or threads in a loop (default forced)")
    parser.add_argument("--threads", type=positive_int, default=2, help="stress: threads (default 2)")
    parser.add_argument("--iterations", type=positive_int, default=20000,
                        help="stress: operations per thread (default 20000)")
    parser.add_argument("--timeout", type=positive_float, default=10.0,
                        help="give up after this many seconds (default 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON summary line at the end")
    args = parser.parse_args(argv)
    if args.mode == "stress" and args.pitfall == "callback":
        parser.error("argument --mode: the callback pitfall deadlocks every time; use --mode forced")
    if args.variant == "confined" and args.pitfall != "check-then-act":
        parser.error("argument --variant: confined applies to check-then-act only")
    if args.mode == "stress" and args.threads < 2:
        parser.error(f"argument --threads: stress mode needs at least 2 threads, not {args.threads}")
    return args


def no_pause():
    pass


class Buffer:
    """data[:size] are the items. ``locked_reads`` chooses the fixed reader."""

    def __init__(self, values, locked_reads):
        self.lock = threading.Lock()
        self.data = np.array(values, dtype=np.int64)
        self.size = len(values)
        self.locked_reads = locked_reads

    def replace(self, values, pause=no_pause):  # the writer: always locked
        with self.lock:
            self.data = np.array(values, dtype=np.int64)
            pause()  # forced interleavings wait here: data is new, size still old
            self.size = len(values)

    def snapshot(self):
        if self.locked_reads:
            with self.lock:
                return self.data[:self.size].copy()
        return self.data[:self.size].copy()  # broken: two unlocked reads of a pair

    def append_unlocked(self, value, pause=no_pause):
        n = self.size  # check...
        pause()
        if n == len(self.data):
            grown = np.zeros(2 * n + 1, dtype=np.int64)
            grown[:n] = self.data[:n]
            self.data = grown
        self.data[n] = value  # ...then act, on what may no longer be true
        self.size = n + 1

    def append_locked(self, value, pause=no_pause):
        with self.lock:  # the check and the act are one step for every other thread
            self.append_unlocked(value, pause)

    def update_holding_lock(self, function):  # broken: user code runs under the lock
        with self.lock:
            result = np.asarray(function(self.data[:self.size]), dtype=np.int64)
            self.data, self.size = result, len(result)

    def update_outside_lock(self, function):  # fixed: compute outside, publish if unchanged
        while True:
            with self.lock:
                data, size = self.data, self.size
            result = np.asarray(function(data[:size].copy()), dtype=np.int64)
            with self.lock:
                if self.data is data and self.size == size:  # nobody published meanwhile
                    self.data, self.size = result, len(result)
                    return


def appenders_for(variant, shared):
    """(this thread's append, all items): the shared buffer's, or one buffer per thread."""
    if variant != "confined":
        append = shared.append_locked if variant == "fixed" else shared.append_unlocked
        return (lambda: append), (lambda: shared.snapshot().tolist())
    mine, buffers = threading.local(), []

    def own_append():
        if not hasattr(mine, "buffer"):
            mine.buffer = Buffer([], locked_reads=False)  # no lock: no other thread ever sees it
            buffers.append(mine.buffer)  # list.append is atomic; read only after the threads end
        return mine.buffer.append_unlocked
    return own_append, lambda: sorted(v for b in buffers for v in b.snapshot().tolist())


def run_threads(timeout, *functions):
    pool = [threading.Thread(target=f, daemon=True) for f in functions]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout)
    return not any(thread.is_alive() for thread in pool)


def hold_window(variant, arrived, acted, timeout):
    """The pause of the thread inside its window (and, for the fixed variant, inside its lock).

    Broken: wait until the other thread has acted. Fixed: the other thread is about
    to block on our lock and cannot act, so wait until it has arrived, then a little.
    """
    def pause():
        if variant == "broken":
            acted.wait(timeout)
        else:
            arrived.wait(timeout)
            time.sleep(LINGER)
    return pause


def forced(pitfall, variant, timeout):
    arrived, acted = threading.Event(), threading.Event()
    pause = hold_window(variant, arrived, acted, timeout)
    seen = {}
    if pitfall == "writer-only":
        buf = Buffer(OLD, locked_reads=variant == "fixed")
        opened = threading.Event()

        def writer():
            buf.replace(NEW, pause=lambda: (opened.set(), pause()))

        def reader():
            opened.wait(timeout)
            arrived.set()
            seen["snapshot"] = buf.snapshot().tolist()
            acted.set()
        finished = run_threads(timeout, writer, reader)
        states = [OLD.tolist(), NEW.tolist()]
        return {"finished": finished, "reader_saw": seen.get("snapshot"), "valid_states": states,
                "problem": seen.get("snapshot") not in states}
    if pitfall == "check-then-act":
        buf = Buffer([], locked_reads=True)
        appenders, all_items = appenders_for(variant, buf)
        first_checked = threading.Event()
        if variant == "confined":  # nobody else can touch my buffer: the window is harmless
            pause = hold_window("broken", arrived, acted, timeout)

        def first():
            appenders()(1, pause=lambda: (first_checked.set(), pause()))

        def second():
            first_checked.wait(timeout)
            arrived.set()
            appenders()(2)
            acted.set()
        finished = run_threads(timeout, first, second)
        items = all_items()
        return {"finished": finished, "items": items, "problem": sorted(items) != [1, 2]}
    # callback: the user function reads the buffer it is updating
    buf = Buffer(OLD, locked_reads=True)
    update = buf.update_outside_lock if variant == "fixed" else buf.update_holding_lock

    def doubled_plus_total(items):
        return items * 2 + buf.snapshot().sum()  # calls back into the buffer
    finished = run_threads(min(timeout, 2.0), lambda: update(doubled_plus_total))
    return {"finished": finished, "deadlocked": not finished, "problem": not finished,
            "items": buf.snapshot().tolist() if finished else None}


def stress(pitfall, variant, threads, iterations, timeout):
    deadline = time.monotonic() + timeout
    start = threading.Barrier(threads)
    done = [0] * threads
    if pitfall == "writer-only":
        buf = Buffer(OLD, locked_reads=variant == "fixed")
        states = {tuple(OLD.tolist()), tuple(NEW.tolist())}
        torn = [0] * threads

        def worker(i):
            start.wait()
            for k in range(iterations):
                if time.monotonic() > deadline:
                    return
                if i == 0:
                    buf.replace(NEW if k % 2 == 0 else OLD)
                elif tuple(buf.snapshot().tolist()) not in states:
                    torn[i] += 1
                done[i] += 1
        finished = run_threads(timeout + 5, *[lambda i=i: worker(i) for i in range(threads)])
        return {"finished": finished, "operations": sum(done), "torn_reads": sum(torn),
                "problem": sum(torn) > 0, "timed_out": sum(done) < threads * iterations}
    buf = Buffer([], locked_reads=True)
    appenders, all_items = appenders_for(variant, buf)

    errors = [0] * threads

    def appender(i):
        append = appenders()
        start.wait()
        for _ in range(iterations):
            if time.monotonic() > deadline:
                return
            done[i] += 1
            try:
                append(1)
            # A thread replaced data with a smaller array grown from a stale
            # size: IndexError on the write, or ValueError when growing copies
            # more items than the array now holds. Either is the race, counted;
            # left uncaught it would end this thread and look like a time-out.
            except (IndexError, ValueError):
                errors[i] += 1
    finished = run_threads(timeout + 5, *[lambda i=i: appender(i) for i in range(threads)])
    lost = sum(done) - len(all_items())
    return {"finished": finished, "operations": sum(done), "lost_items": lost, "errors": sum(errors),
            "problem": lost != 0 or sum(errors) != 0, "timed_out": sum(done) < threads * iterations}


def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()
    if args.mode == "forced":
        result = forced(args.pitfall, args.variant, args.timeout)
    else:
        result = stress(args.pitfall, args.variant, args.threads, args.iterations, args.timeout)
    summary = {
        "example": "lock_pitfalls",
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "gil_enabled": sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True,
        "pitfall": args.pitfall, "variant": args.variant, "mode": args.mode,
        **result,
        "race_observed": result["problem"],
        "seconds": round(time.monotonic() - started, 3),
    }
    summary.setdefault("timed_out", not result["finished"] and not result.get("deadlocked"))
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        shown = {k: v for k, v in result.items() if k not in ("problem", "finished")}
        print(f"{args.pitfall} ({args.variant}, {args.mode}): {shown} -> "
              + ("PITFALL OBSERVED" if result["problem"] else "nothing went wrong"))
    if result.get("deadlocked"):
        sys.stdout.flush()
        os._exit(1)  # the deadlocked thread can never be joined
    if result["problem"]:
        return 1
    return 3 if summary["timed_out"] else 0


if __name__ == "__main__":
    sys.exit(main())
