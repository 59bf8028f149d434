# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy"]
# ///
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
stress runs --threads threads in a loop and counts what went wrong. Exit
status 1 means the pitfall was observed: a torn read, a lost item, the
deadlock.

    python lock_pitfalls.py --pitfall writer-only --variant broken --json
    python lock_pitfalls.py --pitfall check-then-act --mode stress --threads 4
"""

import sys
import threading
import time

import numpy as np

from thread_harness import finish, parser, run_threaded

# The keys of its --json summary besides the harness's: the book's chapters and tests
# read them by name, so renaming one changes a contract (the book's nox -s uses -- lock_pitfalls.py).
SUMMARY_KEYS = (
    "pitfall", "variant", "mode", "reader_saw", "valid_states", "items", "deadlocked", "operations",
    "torn_reads", "errors", "lost_items",
)

OLD, NEW = np.arange(1, 4), np.arange(10, 70, 10)  # the two states writer-only switches between
LINGER = 0.05  # seconds a lock holder waits once the other thread is blocked on its lock
DEADLOCK_WAIT = 2.0  # seconds after which a thread waiting for its own lock counts as deadlocked


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
            # list.append locks the list on the free-threaded build; read only after the threads end
            buffers.append(mine.buffer)
        return mine.buffer.append_unlocked
    return own_append, lambda: sorted(v for b in buffers for v in b.snapshot().tolist())


def hold(run, variant, arrived, acted):
    """The pause of the thread inside its window (and, for the fixed variant, inside its lock).

    Broken: wait until the other thread has acted. Fixed: the other thread is about
    to block on our lock and cannot act, so wait until it has arrived, then a little.
    """
    if variant == "broken":
        run.wait_for(acted)
    elif run.wait_for(arrived):
        time.sleep(LINGER)


def forced_writer_only(variant, timeout):
    buf = Buffer(OLD, locked_reads=variant == "fixed")
    opened, arrived, acted, seen = threading.Event(), threading.Event(), threading.Event(), {}

    def writer(run):
        buf.replace(NEW, pause=lambda: (opened.set(), hold(run, variant, arrived, acted)))

    def reader(run):
        if run.wait_for(opened):
            arrived.set()
            seen["snapshot"] = buf.snapshot().tolist()
        acted.set()

    run = run_threaded([writer, reader], timeout=timeout)
    saw, states = seen.get("snapshot"), [OLD.tolist(), NEW.tolist()]
    return run, saw is not None and saw not in states, {"reader_saw": saw, "valid_states": states}


def forced_check_then_act(variant, timeout):
    appenders, all_items = appenders_for(variant, Buffer([], locked_reads=True))
    checked, arrived, acted, appended = threading.Event(), threading.Event(), threading.Event(), []
    # Confined: nobody else can touch this thread's buffer, so the window is held as in the broken one.
    holding = "broken" if variant == "confined" else variant

    def first(run):
        appenders()(1, pause=lambda: (checked.set(), hold(run, holding, arrived, acted)))
        appended.append(1)

    def second(run):
        if run.wait_for(checked):
            arrived.set()
            appenders()(2)
            appended.append(2)
        acted.set()

    run = run_threaded([first, second], timeout=timeout)
    items = all_items()
    return run, len(appended) == 2 and sorted(items) != [1, 2], {"items": items}


def forced_callback(variant, timeout):  # the user function reads the buffer it is updating
    buf = Buffer(OLD, locked_reads=True)
    update = buf.update_outside_lock if variant == "fixed" else buf.update_holding_lock

    def doubled_plus_total(items):
        return items * 2 + buf.snapshot().sum()  # calls back into the buffer

    run = run_threaded([lambda run: update(doubled_plus_total)], timeout=min(timeout, DEADLOCK_WAIT), grace=0)
    deadlocked = bool(run.stuck)
    run.deadline_hit = False  # a thread waiting for itself is this pitfall's result, not a time-out
    items = None if deadlocked else buf.snapshot().tolist()
    return run, deadlocked, {"deadlocked": deadlocked, "items": items}


def stress_writer_only(variant, threads, iterations, timeout):
    buf = Buffer(OLD, locked_reads=variant == "fixed")
    states = {tuple(OLD.tolist()), tuple(NEW.tolist())}
    counts = [{"operations": 0, "torn_reads": 0} for _ in range(threads)]

    def worker(i, mine):
        def loop(run):
            for k in range(iterations):
                if not run.running():
                    return
                if i == 0:
                    buf.replace(NEW if k % 2 == 0 else OLD)
                elif tuple(buf.snapshot().tolist()) not in states:
                    mine["torn_reads"] += 1
                mine["operations"] += 1
        return loop

    run = run_threaded([worker(i, mine) for i, mine in enumerate(counts)], timeout=timeout)
    totals = {key: sum(c[key] for c in counts) for key in counts[0]}
    return run, totals["torn_reads"] > 0, totals


def stress_appends(variant, threads, iterations, timeout):
    appenders, all_items = appenders_for(variant, Buffer([], locked_reads=True))
    counts = [{"operations": 0, "errors": 0} for _ in range(threads)]

    def appender(mine):
        def loop(run):
            append = appenders()
            for _ in range(iterations):
                if not run.running():
                    return
                mine["operations"] += 1
                try:
                    append(1)
                # A thread replaced data with a smaller array grown from a stale
                # size: IndexError on the write, or ValueError when growing copies
                # more items than the array now holds. Either is the race, counted.
                except (IndexError, ValueError):
                    mine["errors"] += 1
        return loop

    run = run_threaded([appender(mine) for mine in counts], timeout=timeout)
    totals = {key: sum(c[key] for c in counts) for key in counts[0]}
    totals["lost_items"] = totals["operations"] - len(all_items())
    return run, totals["lost_items"] != 0 or totals["errors"] != 0, totals


FORCED = {"writer-only": forced_writer_only, "check-then-act": forced_check_then_act,
          "callback": forced_callback}


def main(argv=None):
    made = parser(__doc__, threads=2, iterations=20000, timeout=10.0,
                  meaning={"threads": "stress: threads", "iterations": "stress: operations per thread"})
    made.add_argument("--pitfall", choices=list(FORCED), default="writer-only",
                      help="which pitfall (default writer-only)")
    made.add_argument("--variant", choices=["broken", "fixed", "confined"], default="fixed",
                      help="the pitfall, its fix with the lock, or (check-then-act only) thread "
                      "confinement instead of a lock (default fixed)")
    made.add_argument("--mode", choices=["forced", "stress"], default="forced",
                      help="one deterministic interleaving, or threads in a loop (default forced)")
    args = made.parse_args(argv)
    if args.mode == "stress" and args.pitfall == "callback":
        made.error("argument --mode: the callback pitfall deadlocks every time; use --mode forced")
    if args.variant == "confined" and args.pitfall != "check-then-act":
        made.error("argument --variant: confined applies to check-then-act only")
    if args.mode == "stress" and args.threads < 2:
        made.error(f"argument --threads: stress mode needs at least 2 threads, not {args.threads}")

    if args.mode == "forced":
        run, race, fields = FORCED[args.pitfall](args.variant, args.timeout)
    else:
        stress = stress_writer_only if args.pitfall == "writer-only" else stress_appends
        run, race, fields = stress(args.variant, args.threads, args.iterations, args.timeout)
    return finish(args, run, example="lock_pitfalls", race_observed=race,
                  text=f"{args.pitfall} ({args.variant}, {args.mode}): {fields} -> "
                  + ("PITFALL OBSERVED" if race else "nothing went wrong"),
                  pitfall=args.pitfall, variant=args.variant, mode=args.mode, **fields)


if __name__ == "__main__":
    sys.exit(main())
