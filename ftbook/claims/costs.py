"""What docs/chapters/costs.md asserts about its runs: no timing, only that the benchmark measured it all."""

from __future__ import annotations

from ftbook.run import ExampleRun, Outcome

# metadata_bench.py's five strategies and its two np.repeat workloads, each measured at every thread count
SERIES = {"copy-modify", "threading.Lock", "PyMutex", "critical section", "thread-local",
          "np.repeat, own array", "np.repeat, shared array"}


def every_strategy_leaves_the_shared_array_whole(outcome: Outcome) -> None:
    """Race: a locked strategy that tore the shared pair would mean its lock is not held across both writes.

    The benchmark finished (the GIL as asked, no thread raising, within its
    time), measured every series at 1, 2, 4, ... up to ``--threads``
    threads, and no strategy left its shared array torn. The timings
    themselves are what they are on the machine and are not asserted.
    """
    summary = outcome.check()
    assert not summary["timed_out"] and summary["torn"] == [], summary
    counts = [1]
    while counts[-1] * 2 <= summary["threads"]:
        counts.append(counts[-1] * 2)
    assert summary["thread_counts"] == counts, (summary["thread_counts"], summary["threads"])
    measured = {(row["name"], row["threads"]) for row in summary["results"]}
    assert measured == {(name, n) for name in SERIES for n in counts}, sorted(measured)
    assert len(summary["results"]) == len(measured), "a point measured twice"
    assert outcome.returncode == 0, outcome.describe()


BENCH = ("--threads", "2", "--iterations", "2000", "--repeat", "1", "--json")
TEST_RUNS = [
    (every_strategy_leaves_the_shared_array_whole, [ExampleRun("metadata_bench.py", BENCH)]),
    (every_strategy_leaves_the_shared_array_whole, [ExampleRun("metadata_bench.py", BENCH, gil=True)]),
]
