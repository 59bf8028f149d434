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
                      section: no deadlock (critical sections are re-entrant), torn pair
  mutex-callback      the same with the PyMutex: the thread waits for itself (deadlock)

stress runs one writer and (threads - 1) readers in a loop, for
ThreadSanitizer (--sanitize thread) or to count torn reads.

Needs demo_patterns.py and metadata_demo.c in the same folder (the extension
is compiled on first use). Exit status: 0 every read saw a whole pair, 1 a
torn pair (or the deadlock) was observed, 2 bad arguments or build failure,
3 the time limit ran out first; a crash shows as a signal.

    python critical_sections.py --scenario unlocked-reader --json
    python critical_sections.py --scenario stress --writer cs --reader unlocked
"""

import gc
import json
import os
import sys
import threading
import time
from pathlib import Path

# Found next to this file even under `python -I` (which leaves the script's folder off sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from demo_patterns import BuildError, Parser, load_extension, positive_float, positive_int  # noqa: E402

LENGTH = 8  # items of the shared int64 array: the whole pair is (8, 8) or (4, 16)
FORCED = ["locked-reader", "unlocked-reader", "blocking-callback", "nested",
          "reentrant-callback", "mutex-callback"]
LINGER = 0.02  # seconds the writer keeps its lock after the reader has arrived


def parse_args(argv=None):
    parser = Parser(description=__doc__.split("\n\n")[0], epilog="Exit 0: clean; 1: torn pair or "
                    "deadlock observed; 2: bad arguments or build failure; 3: time limit.")
    parser.add_argument("--scenario", choices=[*FORCED, "stress"], default="locked-reader",
                        help="which interleaving to run (default locked-reader, the safe one)")
    parser.add_argument("--writer", choices=["cs", "mutex"], default="cs",
                        help="stress: the writer's lock (default cs)")
    parser.add_argument("--reader", choices=["cs", "mutex", "unlocked"], default="cs",
                        help="stress: the readers' lock (default cs)")
    parser.add_argument("--threads", type=positive_int, default=2,
                        help="stress: 1 writer + readers, at least 2 (default 2)")
    parser.add_argument("--iterations", type=positive_int, default=20000,
                        help="stress: flips by the writer (default 20000)")
    parser.add_argument("--timeout", type=positive_float, default=30.0,
                        help="give up after this many seconds (default 30; compiling not included)")
    parser.add_argument("--sanitize", choices=["thread"], default=None,
                        help="use the -fsanitize=thread build (for a ThreadSanitizer CPython)")
    parser.add_argument("--json", action="store_true", help="print one JSON summary line at the end")
    args = parser.parse_args(argv)
    if args.scenario == "stress" and args.threads < 2:
        parser.error(f"argument --threads: stress needs at least 2 threads, not {args.threads}")
    return args


def whole(pair):
    """A pair is whole when it spans the buffer exactly: 8 x 8 or 4 x 16 bytes."""
    return pair[0] * pair[1] == LENGTH * 8


def run_threads(timeout, *functions):
    pool = [threading.Thread(target=f, name=f.__name__, daemon=True) for f in functions]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout)
    return not any(thread.is_alive() for thread in pool)


def forced(demo, scenario, timeout):
    """One interleaving; returns what the reader saw. Stages order the threads (see the C file)."""
    shared, other = np.arange(LENGTH), np.arange(4)
    seen = {}
    demo.set_stage(0)

    def writer():  # flips shared, spinning inside its lock until the reader has arrived (stage 2)
        demo.flip_cs(shared, announce=1, until=2, linger=LINGER)

    if scenario == "unlocked-reader":
        def reader():
            demo.wait_stage(1, timeout)
            seen["pair"] = demo.read_unlocked(shared)
            demo.set_stage(2)
        threads = [reader, writer]
    elif scenario == "locked-reader":
        def reader():
            demo.wait_stage(1, timeout)
            demo.set_stage(2)  # the writer still holds the section for LINGER seconds
            started = time.perf_counter()
            seen["pair"] = demo.read_cs(shared)
            seen["waited_ms"] = round((time.perf_counter() - started) * 1e3, 2)
        threads = [reader, writer]
    elif scenario == "blocking-callback":
        opened, read = threading.Event(), threading.Event()

        def callback():  # runs inside the writer's critical section, between the writes
            opened.set()
            read.wait(timeout)  # blocks: the thread detaches and its critical section is suspended

        def writer():  # noqa: F811 - this scenario's writer holds its window with a callback
            demo.flip_cs(shared, callback=callback)

        def reader():
            opened.wait(timeout)
            seen["pair"] = demo.read_cs(shared)
            read.set()
        threads = [reader, writer]
    elif scenario == "nested":
        def holder():  # holds other's critical section until the reader is done (stage 3)
            seen["holder_released"] = demo.hold_cs(other, 1, 3)

        def writer():  # noqa: F811
            demo.wait_stage(1, timeout)
            demo.flip_nested(shared, other, announce=2)  # blocks on other, inside shared's section

        def reader():
            demo.wait_stage(2, timeout)
            seen["pair"] = demo.read_cs(shared)
            demo.set_stage(3)
        threads = [holder, writer, reader]
    elif scenario == "reentrant-callback":
        def writer():  # noqa: F811 - one thread: the callback reads the array being flipped
            demo.flip_cs(shared, callback=lambda: seen.setdefault("pair", demo.read_cs(shared)))
        threads = [writer]
    else:  # mutex-callback
        def writer():  # noqa: F811 - waits for its own PyMutex: never returns
            demo.flip_mutex(shared, callback=lambda: seen.setdefault("pair", demo.read_mutex(shared)))
        threads = [writer]
        timeout = min(timeout, 2.0)  # a deadlock needs no long wait to be recognised

    finished = run_threads(timeout, *threads)
    result = {"reader_saw": list(seen["pair"]) if "pair" in seen else None,
              "finished": finished, "deadlocked": scenario == "mutex-callback" and not finished}
    if "waited_ms" in seen:
        result["reader_waited_ms"] = seen["waited_ms"]
    if finished:
        result["final_pair"] = list(demo.read_unlocked(shared))
    return result


def stress(demo, writer_lock, reader_lock, threads, iterations, timeout):
    """One writer flips in a loop; the readers count the torn pairs they see."""
    shared = np.arange(LENGTH)
    flip = {"cs": demo.flip_cs, "mutex": demo.flip_mutex}[writer_lock]
    read = {"cs": demo.read_cs, "mutex": demo.read_mutex, "unlocked": demo.read_unlocked}[reader_lock]
    start = threading.Barrier(threads)
    writer_done = threading.Event()
    deadline = time.monotonic() + timeout
    counts = {"flips": 0, "reads": 0, "torn_reads": 0}
    torn = [0] * (threads - 1)
    reads = [0] * (threads - 1)

    def writer():
        start.wait()
        for _ in range(iterations):
            if time.monotonic() > deadline:
                break
            flip(shared)
            counts["flips"] += 1
        writer_done.set()

    def reader(index):
        start.wait()
        while not writer_done.is_set():
            if not whole(read(shared)):
                torn[index] += 1
            reads[index] += 1

    finished = run_threads(timeout + 5, writer, *[lambda i=i: reader(i) for i in range(threads - 1)])
    counts.update(reads=sum(reads), torn_reads=sum(torn), finished=finished,
                  timed_out=counts["flips"] < iterations)
    return counts


def main(argv=None):
    args = parse_args(argv)
    try:
        demo = load_extension(args.sanitize)
    except BuildError as exc:
        print(f"{Path(sys.argv[0]).name}: error: {exc}", file=sys.stderr)
        return 2
    summary = {
        "example": "critical_sections",
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        # checked after loading the extension: its Py_mod_gil slot must keep the GIL off
        "gil_enabled": sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True,
        "scenario": args.scenario,
        "sanitize": args.sanitize,
    }
    started = time.monotonic()
    if args.scenario == "stress":
        summary.update(writer=args.writer, reader=args.reader, threads=args.threads,
                       iterations=args.iterations)
        summary.update(stress(demo, args.writer, args.reader, args.threads, args.iterations, args.timeout))
        summary["race_observed"] = summary["torn_reads"] > 0
    else:
        # A forced writer spins while holding a lock; a stop-the-world pause (the cyclic GC
        # starts one) would wait for it and stall the demo until the spin times out.
        gc.disable()
        summary.update(forced(demo, args.scenario, args.timeout))
        saw = summary["reader_saw"]
        summary["race_observed"] = summary["deadlocked"] or (saw is not None and not whole(saw))
        summary["timed_out"] = not summary["finished"] and not summary["deadlocked"]
    summary["seconds"] = round(time.monotonic() - started, 3)
    if args.json:
        print(json.dumps(summary), flush=True)
    elif args.scenario == "stress":
        print(f"{summary['flips']} flips ({args.writer}) against {summary['reads']} reads ({args.reader}) "
              f"on {args.threads} threads: {summary['torn_reads']} torn pairs "
              f"(GIL {'on' if summary['gil_enabled'] else 'off'})")
    elif summary["deadlocked"]:
        print(f"{args.scenario}: the writer is still waiting for its own lock: deadlock")
    else:
        saw = summary["reader_saw"]
        print(f"{args.scenario}: the reader saw (dims[0], strides[0]) = {tuple(saw)}: "
              + ("whole" if whole(saw) else "TORN"))
    if summary["race_observed"]:
        # A deadlocked thread cannot be joined; leave without waiting for it.
        if summary.get("deadlocked"):
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        return 1
    return 3 if summary.get("timed_out") else 0


if __name__ == "__main__":
    sys.exit(main())
