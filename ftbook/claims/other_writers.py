"""What docs/chapters/other-writers.md asserts about its runs (locking.md reuses the view's claims)."""

from __future__ import annotations

from ftbook.run import ExampleRun, Outcome

WHOLE = {"shape": [6], "strides": [8], "nbytes": 48}  # the (6,) int64 array, as it is between changes
TORN = {"shape": [12], "strides": [4], "nbytes": 96}  # new dims and strides, old 8-byte itemsize


def setter_window_shows_a_torn_array(outcome: Outcome) -> None:
    """Race: the dtype setter writes the new dims and strides before it swaps the dtype.

    A ``__del__`` run by dropping the old dtype holds that window open, and
    the reader sees shape (12,) with 8-byte items: 96 bytes of a 48-byte
    buffer. The same with the GIL on: the ``__del__`` is Python code, so the
    GIL does not make the setter atomic. The writer thread recorded the
    setter's deprecation warning (NumPy 2.5 and later, the kernel's).
    """
    summary = outcome.check()
    assert summary["torn"] and summary["reader_saw"] == TORN, summary
    assert outcome.returncode == 1, outcome.describe()
    assert any("deprecated" in warning for warning in summary["warnings"]), summary["warnings"]


def view_leaves_the_shared_array_whole(outcome: Outcome) -> None:
    """The fix: ``x.view(np.int32)`` makes a new array; at the same moment the reader sees x whole."""
    summary = outcome.check()
    assert not summary["torn"] and summary["reader_saw"] == WHOLE, summary
    assert outcome.returncode == 0, outcome.describe()


def setter_stress_finishes(outcome: Outcome) -> None:
    """Race: the dtype setter's window without a held ``__del__``; how often a reader lands in it is timing.

    The torn counts are reported, not asserted; the run must finish with its
    summary (a crash would have none) and no thread raising.
    """
    outcome.check()


def view_never_tears_under_stress(outcome: Outcome) -> None:
    """The fix: readers of an array that only ``x.view`` touches never see it torn, however many reads."""
    summary = outcome.check()
    assert summary["torn"] is False, summary


def _run(writer: str, mode: str, *args: str, gil: bool = False) -> ExampleRun:
    return ExampleRun("dtype_setter_race.py", ("--writer", writer, "--mode", mode, *args, "--json"), gil=gil)


TEST_RUNS = [
    (setter_window_shows_a_torn_array, [_run("setter", "forced")]),
    (setter_window_shows_a_torn_array, [_run("setter", "forced", gil=True)]),
    (view_leaves_the_shared_array_whole, [_run("view", "forced")]),
    (setter_stress_finishes, [_run("setter", "stress", "--iterations", "5000")]),
    (setter_stress_finishes, [_run("setter", "stress", "--iterations", "5000", gil=True)]),
    (view_never_tears_under_stress, [_run("view", "stress", "--iterations", "5000")]),
    (view_never_tears_under_stress, [_run("view", "stress", "--iterations", "5000", gil=True)]),
]
