"""What protecting shared array metadata costs: five strategies at 1 to N threads.

Every strategy performs the same metadata change, metadata_demo.c's "flip"
(toggle a 1-d array between every item and every other item), from each of
T threads, --iterations times per thread:

  copy-modify       flipped_view(shared): a new view; the shared array is only read
  threading.Lock    with lock: flip_unlocked(shared)
  PyMutex           flip_mutex(shared): a module-level PyMutex in C
  critical section  flip_cs(shared): Py_BEGIN_CRITICAL_SECTION(shared) in C
  thread-local      flip_unlocked(own): each thread flips its own array, no lock

and a workload closer to real code: np.repeat(a, 3, axis=0) on a (100, 10)
array that each thread owns, or that all threads share.

T runs over 1, 2, 4, ... up to --threads. Each point is the best of --repeat
rounds (the least disturbed by other processes); a round measures every point once. Run it once as is and once
with PYTHON_GIL=1 to see what the GIL does to the same code. The numbers
depend on the machine, above all on its number of cores: this script
prints os.cpu_count() with them.

Needs demo_patterns.py and metadata_demo.c in the same folder. Exit status:
0 all runs completed and every shared array ended whole, 1 a locked
strategy left a torn pair (a bug), 2 bad arguments or build failure, 3 the
time limit ran out first.

    python metadata_bench.py --threads 8 --iterations 20000 --json
    PYTHON_GIL=1 python metadata_bench.py --threads 8 --iterations 20000 --json
"""

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

LENGTH = 8
STRATEGIES = ["copy-modify", "threading.Lock", "PyMutex", "critical section", "thread-local"]
WORKLOADS = ["np.repeat, own array", "np.repeat, shared array"]
LOCK = threading.Lock()  # the threading.Lock strategy's one lock, shared by all threads


def parse_args(argv=None):
    parser = Parser(description=__doc__.split("\n\n")[0], epilog="Exit 0: all runs completed; 1: a locked "
                    "strategy left a torn pair; 2: bad arguments or build failure; 3: time limit.")
    parser.add_argument("--threads", type=positive_int, default=2,
                        help="largest thread count; runs 1, 2, 4, ... up to it (default 2)")
    parser.add_argument("--iterations", type=positive_int, default=5000,
                        help="flips per thread per run; np.repeat runs do a twentieth as many (default 5000)")
    parser.add_argument("--repeat", type=positive_int, default=3,
                        help="rounds; each point's best is kept (default 3)")
    parser.add_argument("--timeout", type=positive_float, default=120.0,
                        help="stop starting new runs after this many seconds (default 120)")
    parser.add_argument("--json", action="store_true", help="print one JSON summary line at the end")
    return parser.parse_args(argv)


def workers(demo, name, shared, iterations):
    """A function making one thread's share of the work, for the strategy or workload *name*.

    Every loop reads only local variables. A closure variable or a global is a
    new reference to a shared object at each read, and under free threading
    that is an atomic update of the object's reference count that all threads
    contend for: enough to stop even the thread-local strategy from scaling.
    """
    calls = range(iterations)
    repeat_input = np.arange(1000).reshape(100, 10)

    def each_call(function, make_argument):
        def work():
            call, argument = function, make_argument()  # a new array is this thread's own
            for _ in calls:
                call(argument)
        return work

    def with_lock():
        lock, flip, target = LOCK, demo.flip_unlocked, shared
        for _ in calls:
            with lock:
                flip(target)

    def repeat(make_array):
        def work():
            repeat, array = np.repeat, make_array()
            for _ in range(max(1, iterations // 20)):
                repeat(array, 3, axis=0)
        return work

    return {
        "copy-modify": each_call(demo.flipped_view, lambda: shared),
        "threading.Lock": with_lock,
        "PyMutex": each_call(demo.flip_mutex, lambda: shared),
        "critical section": each_call(demo.flip_cs, lambda: shared),
        "thread-local": each_call(demo.flip_unlocked, lambda: np.arange(LENGTH)),
        "np.repeat, own array": repeat(repeat_input.copy),
        "np.repeat, shared array": repeat(lambda: repeat_input),
    }[name]


def one_run(function, threads):
    """Wall time from the first thread starting its work to the last one finishing.

    The threads take the times themselves: the main thread may not run again
    until long after it released them.
    """
    start = threading.Barrier(threads)
    began, ended = [], []

    def timed():
        start.wait()
        began.append(time.perf_counter())
        function()
        ended.append(time.perf_counter())

    pool = [threading.Thread(target=timed) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return max(ended) - min(began)


def measure(demo, names, counts, iterations, repeat, deadline):
    """Best time of each (name, threads) point over *repeat* rounds.

    Each round measures every point once, so a burst of load from another
    process spoils one round of many points rather than every run of one.
    """
    shared = {name: np.arange(LENGTH) for name in names}
    best = {}
    for _ in range(repeat):
        for name in names:
            function = workers(demo, name, shared[name], iterations)
            for threads in counts:
                if time.monotonic() > deadline:
                    return rows_of(best, iterations), [], True
                seconds = one_run(function, threads)
                best[name, threads] = min(seconds, best.get((name, threads), seconds))
    # every strategy must leave its shared pair whole
    torn = [name for name in names if np.prod(demo.read_unlocked(shared[name])) != LENGTH * 8]
    return rows_of(best, iterations), torn, False


def rows_of(best, iterations):
    rows = []
    for (name, threads), seconds in best.items():
        ops = iterations if name in STRATEGIES else max(1, iterations // 20)
        rows.append({"name": name, "threads": threads, "seconds": round(seconds, 6),
                     "ns_per_op": round(seconds / ops * 1e9, 1),  # as seen by one thread
                     "ops_per_second": round(threads * ops / seconds)})
    return rows


def main(argv=None):
    args = parse_args(argv)
    try:
        demo = load_extension()
    except BuildError as exc:
        print(f"{Path(sys.argv[0]).name}: error: {exc}", file=sys.stderr)
        return 2
    counts = [1]
    while counts[-1] * 2 <= args.threads:
        counts.append(counts[-1] * 2)
    # Other processes compete for the same cores; the summary says how busy the machine was.
    load_before = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    started = time.monotonic()
    rows, torn, timed_out = measure(demo, STRATEGIES + WORKLOADS, counts, args.iterations, args.repeat,
                                    started + args.timeout)
    summary = {
        "example": "metadata_bench",
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        # checked after loading the extension: its Py_mod_gil slot must keep the GIL off
        "gil_enabled": sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True,
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "thread_counts": counts,
        "iterations": args.iterations,
        "repeat": args.repeat,
        "results": rows,
        "torn": torn,
        "race_observed": bool(torn),
        "timed_out": timed_out,
        "seconds": round(time.monotonic() - started, 3),
    }
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        print(f"{os.cpu_count()} CPUs, GIL {'on' if summary['gil_enabled'] else 'off'}; "
              f"ns per operation (per thread) and total operations per second:")
        for row in rows:
            print(f"  {row['name']:<24} {row['threads']:>2} threads {row['ns_per_op']:>10.1f} ns "
                  f"{row['ops_per_second']:>12,} /s")
    if torn:
        return 1
    return 3 if timed_out else 0


if __name__ == "__main__":
    sys.exit(main())
