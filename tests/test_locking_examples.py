"""The forced interleavings the "Beyond np.repeat" chapters assert, run as a reader would.

Each runs in a subprocess (a broken variant may deadlock or crash) and is
deterministic: events or the demo extension's stage counter hold one thread
inside its window until the other has acted. A test fails if the broken
variant stops showing its race (the chapter would then explain nothing) or
the fixed one starts showing it.
"""

import pytest

from ftbook.run import run_example


def summary_of(name, *args):
    outcome = run_example(name, *args, "--json", timeout=60)
    assert outcome.summary is not None, (outcome.describe(), outcome.stderr)
    assert outcome.summary["gil_enabled"] is False and outcome.summary["worker_errors"] == []
    return outcome, outcome.summary


# Race: NumPy's dtype setter writes dims/strides before it swaps the dtype, so
# a reader in between sees the new shape with the old itemsize (nbytes doubled).
def test_dtype_setter_window_shows_a_torn_array():
    outcome, summary = summary_of("dtype_setter_race.py", "--writer", "setter", "--mode", "forced")
    assert outcome.returncode == 1
    assert summary["reader_saw"] == {"shape": [12], "strides": [4], "nbytes": 96}
    assert any("deprecated" in w for w in summary["warnings"])


# Same interleaving with x.view(int32): the shared array is never written.
def test_dtype_view_leaves_the_shared_array_whole():
    outcome, summary = summary_of("dtype_setter_race.py", "--writer", "view", "--mode", "forced")
    assert outcome.returncode == 0
    assert summary["reader_saw"] == {"shape": [6], "strides": [8], "nbytes": 48}


@pytest.mark.parametrize(
    ("scenario", "exit_code", "reader_saw"),
    [
        # Race: a reader that skips the writer's critical section reads dims[0] new, strides[0] old.
        ("unlocked-reader", 1, [4, 8]),
        # The same interleaving with the reader inside the critical section: it waits, sees a whole pair.
        ("locked-reader", 0, [4, 16]),
        # Race: the writer blocks (Event.wait) inside its critical section, which is then suspended.
        ("blocking-callback", 1, [4, 8]),
        # Race: a nested critical section on a held object suspends the outer one.
        ("nested", 1, [4, 8]),
        # Re-entry through a critical section does not deadlock, but sees the half-done write.
        ("reentrant-callback", 1, [4, 8]),
    ],
)
def test_critical_section_scenarios(scenario, exit_code, reader_saw):
    outcome, summary = summary_of("critical_sections.py", "--scenario", scenario)
    assert outcome.returncode == exit_code, outcome.stderr
    assert summary["reader_saw"] == reader_saw


# Hazard: a PyMutex held across a call back into Python that wants it again.
# The deadlock is the result, reported as such: not as a time-out.
def test_pymutex_held_across_a_callback_deadlocks():
    outcome, summary = summary_of("critical_sections.py", "--scenario", "mutex-callback")
    assert outcome.returncode == 1 and summary["deadlocked"] is True and summary["timed_out"] is False


@pytest.mark.parametrize("pitfall", ["writer-only", "check-then-act", "callback"])
def test_lock_pitfalls_broken_and_fixed(pitfall):
    # writer-only: reader sees new data with old size; check-then-act: a lost
    # append; callback: a lock held across user code that takes it again.
    broken, summary = summary_of("lock_pitfalls.py", "--pitfall", pitfall, "--variant", "broken")
    assert broken.returncode == 1 and summary["race_observed"] is True and summary["timed_out"] is False
    assert summary.get("deadlocked", False) is (pitfall == "callback")
    fixed, summary = summary_of("lock_pitfalls.py", "--pitfall", pitfall, "--variant", "fixed")
    assert fixed.returncode == 0 and summary["race_observed"] is False


def test_bench_leaves_every_shared_array_whole():
    # A locked strategy that tore the shared pair would mean the lock is not held across both writes.
    outcome, summary = summary_of("metadata_bench.py", "--threads", "2", "--iterations", "2000",
                                  "--repeat", "1")
    assert outcome.returncode == 0 and summary["torn"] == []
    assert {row["name"] for row in summary["results"]} >= {"critical section", "PyMutex", "thread-local"}


# Check-then-act without a lock: each thread appends to a buffer only it can
# see, so the held-open window between check and act harms nobody.
def test_thread_confinement_loses_nothing():
    outcome, summary = summary_of("lock_pitfalls.py", "--pitfall", "check-then-act", "--variant", "confined")
    assert outcome.returncode == 0 and summary["items"] == [1, 2]
