# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy"]
# ///
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
rounds (the least disturbed by other processes); a round measures every
point once. Run it once as is and once with PYTHON_GIL=1 to see what the
GIL does to the same code. The numbers depend on the machine, above all on
its number of cores: this script prints os.cpu_count() with them.

Needs demo_patterns.py and metadata_demo.c in the same folder. Exit status
1 means a locked strategy left a torn pair (a bug); 2 also means the
extension could not be built; 3, that the time limit stopped the
benchmark before every point was measured.

    python metadata_bench.py --threads 8 --iterations 20000 --json
    PYTHON_GIL=1 python metadata_bench.py --threads 8 --iterations 20000 --json
"""

import os
import sys
import threading
import time

import numpy as np

from demo_patterns import BuildError, load_extension
from thread_harness import Run, finish, parser, run_threaded, whole_number

# The keys of its --json summary besides the harness's: the book's chapters and tests
# read them by name, so renaming one changes a contract (the book's nox -s uses -- metadata_bench.py).
SUMMARY_KEYS = ("cpu_count", "load_average_before", "thread_counts", "repeat", "results", "torn")

LENGTH = 8
STRATEGIES = ["copy-modify", "threading.Lock", "PyMutex", "critical section", "thread-local"]
WORKLOADS = ["np.repeat, own array", "np.repeat, shared array"]
LOCK = threading.Lock()  # the threading.Lock strategy's one lock, shared by all threads


def workers(demo, name, shared, iterations):
    """A function making one thread's share of the work, for the strategy or workload *name*.

    Every loop reads only local variables. Reading a shared object from a
    closure variable or a global takes a new reference to it at each read
    (unless the object uses deferred reference counting, as top-level
    functions do on the free-threaded build, PEP 703), and for an array or a
    C function that is an atomic update of a reference count all threads
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


def one_run(function, threads, run):
    """Wall time from the first thread starting its work to the last one finishing, or None if one failed.

    The threads take the times themselves: the main thread may not run again
    until long after it released them.
    """
    began, ended = [], []

    def timed(run):
        began.append(time.perf_counter())
        function()
        ended.append(time.perf_counter())

    run_threaded([timed] * threads, run=run)
    return max(ended) - min(began) if len(ended) == threads else None


def measure(demo, names, counts, iterations, repeat, run):
    """Best time of each (name, threads) point over *repeat* rounds, and the names that left a torn pair.

    Each round measures every point once, so a burst of load from another
    process spoils one round of many points rather than every run of one.
    """
    shared = {name: np.arange(LENGTH) for name in names}
    best = {}
    for _ in range(repeat):
        for name in names:
            function = workers(demo, name, shared[name], iterations)
            for threads in counts:
                if not run.running():  # the time limit, or a worker raised
                    return best, []
                seconds = one_run(function, threads, run)
                if seconds is not None:
                    best[name, threads] = min(seconds, best.get((name, threads), seconds))
    # every strategy must leave its shared pair whole
    return best, [name for name in names if np.prod(demo.read_unlocked(shared[name])) != LENGTH * 8]


def rows_of(best, iterations):
    rows = []
    for (name, threads), seconds in best.items():
        ops = iterations if name in STRATEGIES else max(1, iterations // 20)
        rows.append({"name": name, "threads": threads, "seconds": round(seconds, 6),
                     "ns_per_op": round(seconds / ops * 1e9, 1),  # as seen by one thread
                     "ops_per_second": round(threads * ops / seconds)})
    return rows


def main(argv=None):
    made = parser(__doc__, threads=2, iterations=5000, timeout=120.0,
                  meaning={"threads": "largest thread count; runs 1, 2, 4, ... up to it",
                           "iterations": "flips per thread per run; np.repeat runs do a twentieth as many"})
    made.add_argument("--repeat", type=whole_number(1, 100), default=3,
                      help="rounds, 1 to 100; each point's best is kept (default 3)")
    args = made.parse_args(argv)
    try:
        demo = load_extension()
    except BuildError as error:
        made.error(str(error))
    counts = [1]
    while counts[-1] * 2 <= args.threads:
        counts.append(counts[-1] * 2)
    # Other processes compete for the same cores; the summary says how busy the machine was.
    load_before = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    run = Run(args.timeout)
    best, torn = measure(demo, STRATEGIES + WORKLOADS, counts, args.iterations, args.repeat, run)
    rows = rows_of(best, args.iterations)
    lines = [f"{os.cpu_count()} CPUs; ns per operation (per thread) and total operations per second:"]
    lines += [f"  {r['name']:<24} {r['threads']:>2} threads {r['ns_per_op']:>10.1f} ns "
              f"{r['ops_per_second']:>12,} /s" for r in rows]
    return finish(args, run, example="metadata_bench", race_observed=torn,
                  text="\n".join([*lines, "left a torn pair: " + (", ".join(torn) or "none")]),
                  cpu_count=os.cpu_count(), load_average_before=load_before, thread_counts=counts,
                  repeat=args.repeat, results=rows, torn=torn)


if __name__ == "__main__":
    sys.exit(main())
