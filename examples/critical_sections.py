# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy"]
# ///
"""What a critical section protects, and what it does not, shown on a shared array.

metadata_demo.c's "flip" changes a 1-d array's metadata in place, the way
NumPy's dtype setter does: it writes dims[0], then strides[0], toggling
between (n, s) and (n/2, 2s). Between the two writes the pair is torn. The
writers lock (a critical section on the array, or a module-level PyMutex);
the readers honour the same lock, another one, or none.

Forced scenarios (one deterministic interleaving each; the writer's window
is held open by spinning, or by a callback, as the scenario says):

  locked-reader       reader uses the array's critical section: waits, sees a whole pair
  unlocked-reader     reader takes no lock: sees the torn pair
  blocking-callback   the writer calls Python code that blocks inside its critical
                      section: the section is suspended and a locked reader gets in
  nested              the writer nests a critical section on a second array that
                      another thread holds: the outer section is suspended
  reentrant-callback  the writer's callback reads the same array through its critical
                      section: no deadlock (re-entering a section the thread
                      holds does not wait for itself), torn pair
  mutex-callback      the same with the PyMutex: the thread waits for itself (deadlock)

stress runs one writer and (threads - 1) readers in a loop, for
ThreadSanitizer (--sanitize thread) or to count torn reads.

Needs demo_patterns.py and metadata_demo.c in the same folder (the extension
is compiled on first use). Exit status 1 means a torn pair (or the
deadlock) was observed; 2 also means the extension could not be built.

    python critical_sections.py --scenario unlocked-reader --json
    python critical_sections.py --scenario stress --writer cs --reader unlocked
"""

import gc
import sys
import threading
import time

import numpy as np

from demo_patterns import BuildError, load_extension
from thread_harness import finish, parser, run_threaded

# The keys of its --json summary besides the harness's: the book's chapters and tests
# read them by name, so renaming one changes a contract (the book's nox -s uses -- critical_sections.py).
SUMMARY_KEYS = (
    "scenario", "sanitize", "reader_saw", "deadlocked", "reader_waited_ms", "final_pair", "flips",
    "reads", "torn_reads", "writer", "reader",
)

LENGTH = 8  # items of the shared int64 array: the whole pair is (8, 8) or (4, 16)
SCENARIOS = ["locked-reader", "unlocked-reader", "blocking-callback", "nested", "reentrant-callback",
             "mutex-callback", "stress"]
LINGER = 0.02  # seconds the writer keeps its lock after the reader has arrived
DEADLOCK_WAIT = 2.0  # seconds after which a thread waiting for its own lock counts as deadlocked


def whole(pair):
    """A pair is whole when it spans the buffer exactly: 8 x 8 or 4 x 16 bytes."""
    return pair[0] * pair[1] == LENGTH * 8


def scenarios(demo, shared, other, seen):
    """{scenario: its threads}. The demo's stage counter orders them (see the C file)."""

    def reached(run, stage):  # wait for another thread's stage; give up when the run ends
        while run.running():
            if demo.wait_stage(stage, 0.05):
                return True
        return False

    def spinning_writer(run):  # flips shared, spinning inside its lock until the reader has arrived
        demo.flip_cs(shared, announce=1, until=2, linger=LINGER)

    def unlocked_reader(run):
        if reached(run, 1):
            seen["pair"] = demo.read_unlocked(shared)
        demo.set_stage(2)

    def locked_reader(run):
        arrived = reached(run, 1)
        demo.set_stage(2)  # the writer still holds the section for LINGER seconds
        if arrived:
            started = time.perf_counter()
            seen["pair"] = demo.read_cs(shared)
            seen["reader_waited_ms"] = round((time.perf_counter() - started) * 1e3, 2)

    opened, read = threading.Event(), threading.Event()

    def blocking_writer(run):  # the callback waits on an Event: the thread detaches, its section is suspended
        demo.flip_cs(shared, callback=lambda: (opened.set(), run.wait_for(read)))

    def locked_reader_when_opened(run):
        if run.wait_for(opened):
            seen["pair"] = demo.read_cs(shared)
        read.set()

    def holder(run):  # holds other's critical section until the reader is done (stage 3)
        demo.hold_cs(other, 1, 3)

    def nesting_writer(run):  # inside shared's section, blocks on other's
        if reached(run, 1):
            demo.flip_nested(shared, other, announce=2)

    def reader_of_nested(run):
        if reached(run, 2):
            seen["pair"] = demo.read_cs(shared)
        demo.set_stage(3)

    def reentrant_writer(run):  # one thread: the callback reads the array being flipped
        demo.flip_cs(shared, callback=lambda: seen.setdefault("pair", demo.read_cs(shared)))

    def mutex_writer(run):  # waits for its own PyMutex: never returns
        demo.flip_mutex(shared, callback=lambda: seen.setdefault("pair", demo.read_mutex(shared)))

    return {
        "locked-reader": [locked_reader, spinning_writer],
        "unlocked-reader": [unlocked_reader, spinning_writer],
        "blocking-callback": [locked_reader_when_opened, blocking_writer],
        "nested": [holder, nesting_writer, reader_of_nested],
        "reentrant-callback": [reentrant_writer],
        "mutex-callback": [mutex_writer],
    }


def forced(demo, scenario, timeout):
    """One interleaving: the run, whether it went wrong (a torn pair, a deadlock), what the reader saw."""
    shared, other, seen = np.arange(LENGTH), np.arange(4), {}
    demo.set_stage(0)
    deadlock_possible = scenario == "mutex-callback"
    run = run_threaded(scenarios(demo, shared, other, seen)[scenario],
                       timeout=min(timeout, DEADLOCK_WAIT) if deadlock_possible else timeout,
                       grace=0 if deadlock_possible else 5.0)
    deadlocked = deadlock_possible and bool(run.stuck)
    if deadlocked:
        run.deadline_hit = False  # a thread waiting for itself is this scenario's result, not a time-out
    saw = list(seen["pair"]) if "pair" in seen else None
    fields = {"reader_saw": saw, "deadlocked": deadlocked}
    if "reader_waited_ms" in seen:
        fields["reader_waited_ms"] = seen["reader_waited_ms"]
    if not run.stuck:
        fields["final_pair"] = list(demo.read_unlocked(shared))
    return run, deadlocked or (saw is not None and not whole(saw)), fields


def stress(demo, writer_lock, reader_lock, threads, iterations, timeout):
    """One writer flips in a loop; the readers count the torn pairs they see."""
    shared = np.arange(LENGTH)
    flip = {"cs": demo.flip_cs, "mutex": demo.flip_mutex}[writer_lock]
    read = {"cs": demo.read_cs, "mutex": demo.read_mutex, "unlocked": demo.read_unlocked}[reader_lock]
    flips, counts = [0], [{"reads": 0, "torn_reads": 0} for _ in range(threads - 1)]
    reading = threading.Event()  # set by the first read: flips before it could race with nothing

    def writer(run):
        if not run.wait_for(reading):  # a slow start of the readers must not leave the writer alone
            return
        for _ in range(iterations):
            if not run.running():
                return
            flip(shared)
            flips[0] += 1
        run.stop()  # done: release the readers

    def reader(mine):
        def loop(run):
            while run.running():
                if not whole(read(shared)):
                    mine["torn_reads"] += 1
                mine["reads"] += 1
                reading.set()
        return loop

    run = run_threaded([writer, *map(reader, counts)], timeout=timeout)
    totals = {key: sum(c[key] for c in counts) for key in ("reads", "torn_reads")}
    return run, totals["torn_reads"] > 0, {"flips": flips[0], **totals}


def main(argv=None):
    made = parser(__doc__, threads=2, iterations=20000, timeout=30.0,
                  meaning={"threads": "stress: 1 writer + readers, at least 2",
                           "iterations": "stress: flips by the writer"})
    made.add_argument("--scenario", choices=SCENARIOS, default="locked-reader",
                      help="which interleaving to run (default locked-reader, the safe one)")
    made.add_argument("--writer", choices=["cs", "mutex"], default="cs",
                      help="stress: the writer's lock (default cs)")
    made.add_argument("--reader", choices=["cs", "mutex", "unlocked"], default="cs",
                      help="stress: the readers' lock (default cs)")
    made.add_argument("--sanitize", choices=["thread"], default=None,
                      help="use the -fsanitize=thread build (for a ThreadSanitizer CPython)")
    args = made.parse_args(argv)
    if args.scenario == "stress" and args.threads < 2:
        made.error(f"argument --threads: stress needs at least 2 threads, not {args.threads}")
    try:
        demo = load_extension(args.sanitize)
    except BuildError as error:
        made.error(str(error))

    if args.scenario == "stress":
        run, race, fields = stress(demo, args.writer, args.reader, args.threads, args.iterations,
                                   args.timeout)
        fields.update(writer=args.writer, reader=args.reader)
        text = (f"{fields['flips']} flips ({args.writer}) against {fields['reads']} reads ({args.reader}) "
                f"on {args.threads} threads: {fields['torn_reads']} torn pairs")
    else:
        # A forced writer spins while holding a lock; a stop-the-world pause (the cyclic GC
        # starts one) would wait for it and stall the demo until the spin times out.
        gc.disable()
        run, race, fields = forced(demo, args.scenario, args.timeout)
        saw = fields["reader_saw"]
        verdict = ("the writer is still waiting for its own lock: deadlock" if fields["deadlocked"]
                   else f"the reader saw (dims[0], strides[0]) = {saw}: "
                   + ("nothing" if saw is None else "whole" if whole(saw) else "TORN"))
        text = f"{args.scenario}: {verdict}"
    return finish(args, run, example="critical_sections", race_observed=race, text=text,
                  scenario=args.scenario, sanitize=args.sanitize, **fields)


if __name__ == "__main__":
    sys.exit(main())
