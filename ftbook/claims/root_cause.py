"""What docs/chapters/root-cause.md asserts."""

from __future__ import annotations

from ftbook.quote import source_lines
from ftbook.run import EXAMPLES, ExampleRun, Outcome
from ftbook.tsan import (
    TSAN_EXIT,
    Report,
    UntilRace,
    demo_request,
    numpy_that_ran,
    parse_reports,
    tsan_request,
)

FIXED_IN = "numpy-2.2.3"  # the first release with the copy-modify fix


def finalize_window_shows_the_result_length(outcome: Outcome) -> None:
    """Race: PyArray_Repeat (<= 2.2.2) writes the result's length into the caller's own dims.

    A subclass's ``__array_finalize__`` runs inside that window, so the hook
    and another thread both see the input with 20 rows, GIL off or on; from
    2.2.3 they see (4, 3). Deterministic: the hook holds the window open.
    """
    summary = outcome.check()
    assert not summary["timed_out"], summary
    assert summary["hook_ran"] and summary["input_is_shared"], summary  # handed the caller's own array
    assert summary["result_shape"] == [20, 3] and summary["final_shape"] == [4, 3], summary
    inside = [4, 3] if outcome.request.env == FIXED_IN else [20, 3]
    assert summary["hook_saw"] == inside and summary["reader_saw"] == inside, summary
    assert outcome.returncode == (0 if outcome.request.env == FIXED_IN else 1), outcome.describe()


def mutate_restore_shows_the_wrong_length(outcome: Outcome) -> None:
    """Race: the demo's mutate-restore writes the result's length into the shared dims; a reader sees it.

    The events put the reader's read between the write and the restore; the
    array looks whole afterwards, so one thread alone never notices.
    """
    summary = outcome.check()
    assert summary["reader_saw"] == [20, 3] and outcome.returncode == 1, summary
    assert summary["final_shape"] == [4, 3], summary
    order = [event["event"] for event in summary["events"]]
    written = next(i for i, e in enumerate(order) if "written" in e)
    read = next(i for i, e in enumerate(order) if e.startswith("reads shape"))
    restored = next(i for i, e in enumerate(order) if "restored" in e)
    assert written < read < restored, order


def copy_modify_never_shows_the_wrong_length(outcome: Outcome) -> None:
    """The fix: with copy-modify the same reader at the same moment sees the array as it is."""
    summary = outcome.check()
    assert summary["reader_saw"] == [4, 3] and outcome.returncode == 0, summary
    assert summary["result_ok"] and summary["final_shape"] == [4, 3], summary


def strided_input_is_never_written(outcome: Outcome) -> None:
    """A strided input goes through a private copy in PyArray_CheckAxis: its dims are never written.

    So a watcher on it can never see a transient shape, on any NumPy.
    """
    summary = outcome.check()
    assert summary["layout"] == "strided" and summary["calls"] > 0, summary
    assert summary["transient_reads"] == 0 and outcome.returncode in (0, 3), outcome.describe()


def tsan_reports_the_mutate_restore_write(*attempts: Outcome) -> None:
    """Race: under ThreadSanitizer, mutate-restore's write of the shared dims races another thread's read.

    In one of the *attempts* (a run can miss it), TSAN stops at its first
    report (exit 66); the racing write is one of the pattern's two writes,
    ``dims[rc.axis] = ...`` in metadata_demo.c.
    """
    outcome = next((o for o in attempts if _mutate_restore_races(o)), attempts[-1])
    assert outcome.returncode == TSAN_EXIT, outcome.describe()
    races = _mutate_restore_races(outcome)
    assert races, outcome.stderr[-3000:]
    source = (EXAMPLES / "metadata_demo.c").read_text().splitlines()
    write = next(a for a in races[0].accesses if "write" in a.header.lower())
    frame = next(f for f in write.frames if f.location.startswith("metadata_demo.c:"))
    assert "dims[rc.axis] =" in source[int(frame.location.split(":")[1]) - 1], frame


def _mutate_restore_races(outcome: Outcome) -> list:
    return [r for r in parse_reports(outcome.stderr) if r.kind == "data race"
            and MUTATE_RESTORE_FUNCTION in r.functions()]


def tsan_is_silent_on_copy_modify(outcome: Outcome) -> None:
    """The fix: copy-modify makes the same calls on the same shared array, and TSAN reports nothing."""
    assert parse_reports(outcome.stderr) == [] and outcome.returncode == 0, outcome.stderr[-2000:]
    summary = outcome.check()
    assert summary["calls"] == summary["threads"] * summary["iterations"], summary


def tsan_names_pyarray_repeat_on_numpy_2_2_2(*attempts: Outcome) -> Report:
    """Race: on NumPy 2.2.2 built with ThreadSanitizer, concurrent np.repeat writes the input's shared dims.

    In one of the *attempts* (``ftbook.tsan.run_until_race``: a run misses the
    race when the two accesses never overlap):
    A data race whose write is ``PyArray_Repeat``'s, at the line of 2.2.2's
    ``item_selection.c`` that writes through ``PyArray_DIMS(aop)``, on a heap
    block of 32 bytes: a 2-d array's dims and strides, allocated together.
    The race may go on to crash the process after the report (TSAN then
    reports the SEGV too, and the script prints no summary): the NumPy it
    ran is then read from the environment's stamp. Returns the report (the
    page quotes it).
    """
    outcome = _first_repeat_race(attempts)
    assert outcome.returncode != 0, outcome.describe()
    report = _repeat_write_race(outcome)
    write = report.write_by(REPEAT_FUNCTION).own_top
    path, line = write.location.split(":")
    assert path == "item_selection.c", write
    source = source_lines("2.2.2", "numpy/_core/src/multiarray/item_selection.c")
    assert "PyArray_DIMS(aop)[axis] =" in source[int(line) - 1], source[int(line) - 1]
    assert "Location is heap block of size 32" in outcome.stderr, outcome.stderr[-3000:]
    return report


def tsan_is_silent_about_repeat_on_numpy_2_2_3(*outcomes: Outcome) -> None:
    """The fix: on NumPy 2.2.3 built with ThreadSanitizer, the same runs report no race in PyArray_Repeat.

    Reports of other kinds, if any, are counted on the page, not asserted away.
    """
    for outcome in outcomes:
        assert outcome.check()["numpy"] == "2.2.3"
        assert _repeat_race(outcome) is None, outcome.stderr[-3000:]
        assert outcome.returncode in (0, TSAN_EXIT), outcome.describe()


def tsan_names_the_lines_28197_quoted(*attempts: Outcome) -> None:
    """Race: the build's report and #28197's are one race: two threads inside ``PyArray_Repeat``, on its dims.

    The quoted report is a development build's (``QUOTED_28197``); its
    ``item_selection.c`` lines are 2.2.2's (the comment's permalink, at that
    commit, shows the same window at the same lines). Its read is the
    window's first line, ``n = PyArray_DIM(aop, axis)``. In the build's
    report, every access has a ``PyArray_Repeat`` frame: the other thread
    is in its own ``np.repeat`` (the read's innermost frame varies from run
    to run, and the page shows it).
    """
    report = _repeat_write_race(_first_repeat_race(attempts))
    source = source_lines("2.2.2", "numpy/_core/src/multiarray/item_selection.c")
    assert "n = PyArray_DIM(aop, axis);" in source[QUOTED_28197["line"] - 1], source[QUOTED_28197["line"] - 1]
    assert all(access.frame_of("PyArray_Repeat") for access in report.accesses), report.excerpt(max_frames=12)


def _repeat_race(outcome: Outcome):
    """The first data race TSAN reported with PyArray_Repeat in a racing access, or None."""
    return next((r for r in parse_reports(outcome.stderr) if r.is_race_in("PyArray_Repeat")), None)


def _repeat_write_race(outcome: Outcome):
    """The first whole race whose write is ``PyArray_Repeat``'s (what run_until_race awaits), or None."""
    return next((r for r in parse_reports(outcome.stderr)
                 if r.is_whole_race_in(REPEAT_FUNCTION, written_by=REPEAT_FUNCTION)), None)


def _first_repeat_race(attempts: tuple[Outcome, ...]) -> Outcome:
    """The first of *attempts* (all on NumPy 2.2.2) in which TSAN reported PyArray_Repeat's racing write."""
    for outcome in attempts:
        assert numpy_that_ran(outcome) == "2.2.2", outcome.describe()
    found = next((outcome for outcome in attempts if _repeat_write_race(outcome) is not None), None)
    assert found is not None, (f"no race written by PyArray_Repeat, both stacks restored, "
                               f"in {len(attempts)} runs:\n"
                               f"{attempts[-1].stderr[-3000:] if attempts else ''}")
    return found


FORCED = ("--mode", "forced", "--json")
# Two threads calling np.repeat on one shared array, on NumPy itself built with ThreadSanitizer;
# every report counted (halt_on_error=0), not only the first. The chapter runs these requests.
_REPEAT_UNDER_TSAN = ("--threads", "2", "--iterations", "1000", "--json")
_ALL_REPORTS = {"halt_on_error": "0"}
REPEAT_ON_2_2_2 = tsan_request("repeat_stress.py", *_REPEAT_UNDER_TSAN, options=_ALL_REPORTS,
                               env="tsan-numpy-2.2.2")
MUTATE_RESTORE_FUNCTION = "repeat_mutate_restore"  # the demo's racing function, in metadata_demo.c
# The demo's mutate-restore under TSAN (2 threads × 20,000 calls): the chapters run it until reported.
MUTATE_RESTORE_UNDER_TSAN = demo_request("mutate-restore", threads=2, iterations=20000)
# Runs of REPEAT_ON_2_2_2 go on until a report's write is this function's (run_until_race's written_by).
REPEAT_FUNCTION = "PyArray_Repeat"
REPEAT_WRITE_ON_2_2_2 = UntilRace(REPEAT_ON_2_2_2, REPEAT_FUNCTION, written_by=REPEAT_FUNCTION)
# The first access of the report in numpy/numpy#28197 (the fix's author's comment of 2025-01-20), quoted.
QUOTED_28197 = {
    "url": "https://github.com/numpy/numpy/issues/28197",
    "build": "NumPy's main branch at 1688e70e (merged 2025-01-20), CPython 3.13t, macOS arm64",
    "access": "Read of size 8 by thread T2", "function": "PyArray_Repeat", "file": "item_selection.c",
    "line": 902,
}
REPEAT_ON_2_2_3 = tsan_request("repeat_stress.py", *_REPEAT_UNDER_TSAN, options=_ALL_REPORTS,
                               env="tsan-numpy-2.2.3")



TEST_RUNS = [
    (tsan_reports_the_mutate_restore_write,
     [UntilRace(MUTATE_RESTORE_UNDER_TSAN, MUTATE_RESTORE_FUNCTION)]),
    (tsan_is_silent_on_copy_modify, [demo_request("copy-modify")]),
    (tsan_names_pyarray_repeat_on_numpy_2_2_2, [REPEAT_WRITE_ON_2_2_2]),
    (tsan_names_the_lines_28197_quoted, [REPEAT_WRITE_ON_2_2_2]),
    (tsan_is_silent_about_repeat_on_numpy_2_2_3, [REPEAT_ON_2_2_3]),
    (finalize_window_shows_the_result_length,
     [ExampleRun("finalize_window.py", ("--json",), env="numpy-2.2.2")]),
    (finalize_window_shows_the_result_length,
     [ExampleRun("finalize_window.py", ("--json",), env="numpy-2.2.2", gil=True)]),
    (finalize_window_shows_the_result_length,
     [ExampleRun("finalize_window.py", ("--json",), env="numpy-2.2.3")]),
    (mutate_restore_shows_the_wrong_length,
     [ExampleRun("demo_patterns.py", ("--pattern", "mutate-restore", *FORCED))]),
    (mutate_restore_shows_the_wrong_length,
     [ExampleRun("demo_patterns.py", ("--pattern", "mutate-restore", *FORCED), gil=True)]),
    (copy_modify_never_shows_the_wrong_length,
     [ExampleRun("demo_patterns.py", ("--pattern", "copy-modify", *FORCED))]),
    (strided_input_is_never_written,
     [ExampleRun("shape_watcher.py", ("--layout", "strided", "--iterations", "2000", "--json"),
                 env="numpy-2.2.2")]),
]
