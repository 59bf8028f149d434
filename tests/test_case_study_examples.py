"""The deterministic claims of the case-study chapters, run as a reader would.

Each example runs in its own process (the racy variants may crash) with a
time limit. These are the claims the chapters assert at build time; here
they also fail fast, without building the book.
"""

from ftbook.run import run_example


def forced(pattern, **env):
    outcome = run_example("demo_patterns.py", "--pattern", pattern, "--mode", "forced", "--json",
                          env=env, timeout=120)
    assert outcome.summary is not None, (outcome.describe(), outcome.stderr)
    return outcome, outcome.summary


# Race: mutate-restore writes the result's length into the shared array's own
# dims; a reader inside that window sees 20 rows in a 4-row array.
def test_mutate_restore_window_shows_the_wrong_length():
    outcome, summary = forced("mutate-restore")
    assert summary["gil_enabled"] is False
    assert summary["reader_saw"] == [20, 3] and outcome.returncode == 1
    assert summary["final_shape"] == [4, 3]  # restored afterwards: single-threaded it looks fine


# The fix: the same reader at the same moment sees the array as it is.
def test_copy_modify_never_shows_the_wrong_length():
    outcome, summary = forced("copy-modify")
    assert summary["reader_saw"] == [4, 3] and outcome.returncode == 0
    assert summary["result_ok"]


# The GIL never protected the window itself, only the absence of anything in
# it that releases the GIL; the callback waits on an event, which does.
def test_the_gil_does_not_close_a_window_that_releases_it():
    _, summary = forced("mutate-restore", PYTHON_GIL="1")
    assert summary["gil_enabled"] is True and summary["reader_saw"] == [20, 3]


# The events the timeline is drawn from: the reader's read falls between the
# write and the restore.
def test_forced_events_put_the_read_inside_the_window():
    _, summary = forced("mutate-restore")
    order = [event["event"] for event in summary["events"]]
    written = next(i for i, e in enumerate(order) if "written" in e)
    read = next(i for i, e in enumerate(order) if e.startswith("reads shape"))
    restored = next(i for i, e in enumerate(order) if "restored" in e)
    assert written < read < restored


# A strided (non-contiguous) input goes through a private copy in
# PyArray_CheckAxis, so its own dims are never written: the watcher can
# never see a transient shape, on any NumPy.
def test_watcher_on_a_strided_array_sees_nothing():
    outcome = run_example("shape_watcher.py", "--layout", "strided", "--iterations", "2000", "--json",
                          timeout=120)
    assert outcome.returncode == 0 and outcome.summary["layout"] == "strided"
    assert outcome.summary["transient_reads"] == 0 and outcome.summary["calls"] == 2000
