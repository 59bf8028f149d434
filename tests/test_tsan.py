"""Parsing ThreadSanitizer reports (the chapters' excerpts depend on it)."""

import dataclasses
from pathlib import Path

import pytest

from ftbook import tsan
from ftbook.run import Outcome
from ftbook.tsan import TsanRun, parse_reports, tsan_options, tsan_request

FIXTURES = Path(__file__).parent / "fixtures"

# The layout gcc's libtsan prints (addresses, pids and paths made up).
REPORT = """\
python: some unrelated line before the report
==================
WARNING: ThreadSanitizer: data race (pid=4242)
  Write of size 8 at 0x7b0800001238 by thread T2:
    #0 repeat_mutate_restore /root/.cache/x/metadata_demo.c:189 (metadata_demo.cpython-314t-x86_64-linux-gnu.so+0x1f3a)
    #1 cfunction_call Objects/methodobject.c:551 (python3.14t+0x2aa1b1)
    #2 _PyObject_MakeTpCall ./Include/internal/pycore_call.h:242 (python3.14t+0x1d2c3e)
    #3 <null> <null> (python3.14t+0x99)
    #4 _PyEval_EvalFrameDefault Python/generated_cases.c.h:1620 (python3.14t+0x12345)

  Previous read of size 8 at 0x7b0800001238 by thread T1:
    #0 memcpy ../../../../src/libsanitizer/sanitizer_common/sanitizer_common_interceptors.inc:827 (libtsan.so.2+0x6a1b2)
    #1 memcpy ../../../../src/libsanitizer/sanitizer_common/sanitizer_common_interceptors.inc:819 (libtsan.so.2+0x6a1b2)
    #2 PyArray_DiscoverDTypeAndShape_Recursive <null> (_multiarray_umath.cpython-314t-x86_64-linux-gnu.so+0x17bf72)
    #3 PyArray_FromAny <null> (_multiarray_umath.cpython-314t-x86_64-linux-gnu.so+0x17c000)
    #4 prepare_repeat /root/.cache/x/metadata_demo.c:97 (metadata_demo.cpython-314t-x86_64-linux-gnu.so+0x1b20)
    #5 repeat_mutate_restore /root/.cache/x/metadata_demo.c:185 (metadata_demo.cpython-314t-x86_64-linux-gnu.so+0x1f00)

  Location is heap block of size 16 at 0x7b0800001230 allocated by main thread:
    #0 malloc ../../../../src/libsanitizer/tsan/tsan_interceptors_posix.cpp:647 (libtsan.so.2+0x3f4a1)

  Thread T2 (tid=4245, running) created by main thread at:
    #0 pthread_create ../../../../src/libsanitizer/tsan/tsan_interceptors_posix.cpp:969 (libtsan.so.2+0x5ad5b)

SUMMARY: ThreadSanitizer: data race (/root/.cache/x/_multiarray_umath.cpython-314t-x86_64-linux-gnu.so+0x17bf72) in f
==================
ThreadSanitizer: reported 1 warnings
"""


def test_a_report_is_parsed_into_accesses_and_frames():
    (report,) = parse_reports(REPORT)
    assert report.kind == "data race"
    write, read = report.accesses  # location and thread sections are not accesses
    assert write.short_header == "Write of size 8 by thread T2"
    assert read.short_header == "Previous read of size 8 by thread T1"
    assert write.frames[0].function == "repeat_mutate_restore"
    assert write.frames[0].location == "metadata_demo.c:189"  # build paths dropped
    assert write.frames[0].module == "metadata_demo.cpython-314t-x86_64-linux-gnu.so"
    assert write.frames[2].location == "pycore_call.h:242"  # relative paths too, whole
    assert write.frames[3].function == "<null>"
    assert report.summary == "SUMMARY: ThreadSanitizer: data race (_multiarray_umath.cpython-314t-x86_64-linux-gnu.so) in f"
    assert {"repeat_mutate_restore", "prepare_repeat"} <= report.functions()
    assert "malloc" not in report.functions()
    assert report.is_race_in("prepare_repeat") and not report.is_race_in("malloc")  # malloc: the block's


def test_the_excerpt_keeps_the_top_frames_and_no_addresses():
    (report,) = parse_reports(REPORT)
    excerpt = report.excerpt(max_frames=2)
    assert "#0 repeat_mutate_restore metadata_demo.c:189" in excerpt
    assert "#1 cfunction_call" in excerpt and "_PyObject_MakeTpCall" not in excerpt
    assert "... 3 more frames" in excerpt
    assert "0x" not in excerpt and "/root" not in excerpt


def test_the_excerpt_folds_interceptors_and_reaches_our_frame():
    (report,) = parse_reports(REPORT)
    excerpt = report.excerpt(max_frames=2, through="metadata_demo")
    read = excerpt.split("Previous read")[1]
    assert read.count("memcpy") == 1 and "memcpy (TSAN interceptor)" in read
    assert "#1 PyArray_DiscoverDTypeAndShape_Recursive (_multiarray_umath" in read  # no line: module instead
    assert "#3 prepare_repeat metadata_demo.c:97" in read  # deep enough to reach our code
    assert "repeat_mutate_restore metadata_demo.c:185" not in read  # and no deeper


def test_an_access_names_its_own_top_frame_and_a_function_in_its_stack():
    write, read = parse_reports(REPORT)[0].accesses
    assert read.own_top.function == "PyArray_DiscoverDTypeAndShape_Recursive"  # past TSAN's memcpy
    assert write.own_top is write.frames[0]
    assert read.frame_of("repeat_mutate_restore").location == "metadata_demo.c:185"
    assert write.frame_of("prepare_repeat") is None


def test_a_run_counts_its_reports_by_kind():
    reports = parse_reports(REPORT * 2)
    assert TsanRun(Outcome(["python"], 66, 1.0, "", REPORT * 2), reports).kinds() == "2 × data race"
    assert TsanRun(Outcome(["python"], 0, 1.0, "", ""), []).kinds() == "none"


def test_clean_output_has_no_reports():
    assert parse_reports("ok\nThreadSanitizer: nothing to see\n") == []


def test_options_override_the_defaults():
    assert tsan_options() == "halt_on_error=1 exitcode=66 history_size=7"
    assert tsan_options(halt_on_error="0", suppressions="s.txt") == "halt_on_error=0 exitcode=66 history_size=7 suppressions=s.txt"


@pytest.mark.needs_envs("sources")  # the claim checks the line against the 2.2.2 sdist
def test_the_real_numpy_claim_holds_when_the_race_crashes_the_run_after_its_report(monkeypatch):
    """A run on the instrumented 2.2.2 can die of a SEGV after TSAN's report: no summary line is printed.

    The fixture is a report this build produced (two threads, np.repeat, NumPy 2.2.2 with
    -Db_sanitize=thread); the claim then reads the environment's NumPy from its stamp.
    """
    from ftbook.claims import root_cause
    from ftbook.run import Outcome

    report = (FIXTURES / "tsan" / "numpy-2.2.2-repeat.txt").read_text()
    crashed = Outcome(["python"], 66, 18.0, "", report + "SUMMARY: ThreadSanitizer: SEGV memmove.S:273\n",
                      request=root_cause.REPEAT_ON_2_2_2)
    monkeypatch.setattr(tsan, "installed_version", lambda env, name: {"tsan-numpy-2.2.2": "2.2.2"}[env])
    root_cause.tsan_names_pyarray_repeat_on_numpy_2_2_2(crashed)
    other_release = dataclasses.replace(crashed, request=root_cause.REPEAT_ON_2_2_3)
    with pytest.raises(KeyError):  # the stamp asked is the run's own environment's
        root_cause.tsan_names_pyarray_repeat_on_numpy_2_2_2(other_release)


# A report whose older access fell out of TSAN's history (its stack is lost), as the TSAN build prints it.
LOST_WRITER = """\
WARNING: ThreadSanitizer: data race (pid=4242)
  Read of size 8 at 0x7b0800001238 by thread T3:
    #0 PyArray_STRIDE /root/numpy/ndarraytypes.h:1545 (metadata_demo.cpython-314t-x86_64-linux-gnu.so+0x1f3a)
    #1 pair_of /root/.cache/x/metadata_demo.c:518 (metadata_demo.cpython-314t-x86_64-linux-gnu.so+0x1f3a)
    #2 read_unlocked /root/.cache/x/metadata_demo.c:565 (metadata_demo.cpython-314t-x86_64-linux-gnu.so+0x1f3a)

  Previous write of size 8 at 0x7b0800001238 by thread T2:
    [failed to restore the stack]

SUMMARY: ThreadSanitizer: data race ndarraytypes.h:1545 in PyArray_STRIDE
"""
WRITER_KEPT = LOST_WRITER.replace("    [failed to restore the stack]\n", """\
    #0 flip_in_place /root/.cache/x/metadata_demo.c:386 (metadata_demo.cpython-314t-x86_64-linux-gnu.so+0x1b20)
    #1 flip_cs /root/.cache/x/metadata_demo.c:403 (metadata_demo.cpython-314t-x86_64-linux-gnu.so+0x1b20)
""")


def test_an_access_whose_stack_was_lost_names_no_function():
    read, write = parse_reports(LOST_WRITER)[0].accesses
    assert read.restored and not write.restored and write.frames == []
    assert not parse_reports(LOST_WRITER)[0].is_race_in("flip_cs")
    assert parse_reports(LOST_WRITER)[0].is_race_in("read_unlocked")  # named, but only half the race
    assert not parse_reports(LOST_WRITER)[0].is_whole_race_in("read_unlocked")
    assert parse_reports(WRITER_KEPT)[0].is_whole_race_in("read_unlocked")


def test_the_locking_claim_needs_a_report_that_names_the_writers_flip():
    """Race: (the claim's own) a report with the flip's stack lost cannot show which writer raced."""
    from ftbook.claims import locking

    request = tsan_request("critical_sections.py", "--scenario", "stress", "--writer", "cs", "--reader", "unlocked")
    lost, kept = (Outcome(["python"], 66, 9.0, "", text, request=request) for text in (LOST_WRITER, WRITER_KEPT))
    locking.different_locks_race(lost, kept)  # the second run names both
    with pytest.raises(AssertionError, match="no data race naming flip_cs in 2 runs"):
        locking.different_locks_race(lost, lost)
    other_reader = dataclasses.replace(kept, request=tsan_request(
        "critical_sections.py", "--scenario", "stress", "--writer", "cs", "--reader", "mutex"))
    with pytest.raises(AssertionError, match="read_unlocked"):  # the excerpt of a report on another reader
        locking.different_locks_race(other_reader)


def test_a_run_that_died_after_its_report_is_dated_by_its_environment(monkeypatch):
    """TSAN turns the SEGV that can follow a race into its own exit status: no summary, the stamp says."""
    request = tsan_request("numpy_races.py", "--case", "sort-order", env="tsan-numpy-2.5.5")
    monkeypatch.setattr(tsan, "installed_version", lambda env, name: {"tsan-numpy-2.5.5": "2.5.5"}[env])
    died = Outcome(["python"], 66, 9.0, "", REPORT + "SUMMARY: ThreadSanitizer: SEGV memmove.S:273\n",
                   request=request)
    assert tsan.numpy_that_ran(died) == "2.5.5"


SWAPPED_DTYPE = """\
WARNING: ThreadSanitizer: data race (pid=4242)
  Write of size 8 at 0x7b0800001238 by thread T2:
    #0 array_argsort /root/numpy/methods.c:1290 (_multiarray_umath.cpython-314t-x86_64-linux-gnu.so+0x1f3a)

  Previous read of size 8 at 0x7b0800001238 by thread T1:
    #0 array_descr_get /root/numpy/getset.c:426 (_multiarray_umath.cpython-314t-x86_64-linux-gnu.so+0x1f3a)

SUMMARY: ThreadSanitizer: data race methods.c:1290 in array_argsort
ThreadSanitizer:DEADLYSIGNAL
"""


@pytest.mark.needs_envs("sources")  # the claim reads array_descr_get from today's sdist
def test_the_sort_order_claim_holds_when_the_race_crashes_the_run(monkeypatch):
    """Race: (the claim's own) argsort(order=) can crash the run after TSAN's report; it still counts."""
    from ftbook.claims import finding_races_numpy_under_tsan as claims

    monkeypatch.setattr(tsan, "installed_version", lambda env, name: {"tsan-numpy-2.5.5": "2.5.5"}[env])
    died = Outcome(["python"], 66, 9.0, "", SWAPPED_DTYPE, request=claims.SORT_ORDER)
    claims.argsort_order_swaps_the_shared_dtype_today(died)
    monkeypatch.setattr(tsan, "installed_version", lambda env, name: "2.5.4")  # another release ran
    with pytest.raises(AssertionError):
        claims.argsort_order_swaps_the_shared_dtype_today(died)


def test_runs_go_on_until_a_report_restores_both_stacks():
    """A report that lost one stack is kept and shown, but another run is tried for a whole one."""
    outputs = iter([LOST_WRITER, WRITER_KEPT, WRITER_KEPT])

    class Replay:  # the request's runs, in order: what TSAN printed each time
        def run(self):
            return Outcome(["python"], 66, 9.0, "", next(outputs))

    runs = tsan.run_until_race(Replay(), "read_unlocked", seconds=60)
    assert [run.reports[0].restored for run in runs] == [False, True]


def test_runs_go_on_while_the_budget_lasts_and_at_least_once(monkeypatch):
    """The budget is seconds, not tries: runs that miss go on until it is spent; a spent one still runs once."""
    clock = iter(range(0, 1000, 10))  # each run takes ten seconds of the (patched) monotonic clock
    monkeypatch.setattr(tsan.time, "monotonic", lambda: next(clock))

    class Silent:
        def run(self):
            return Outcome(["python"], 0, 10.0, "", "")

    assert len(tsan.run_until_race(Silent(), "read_unlocked", seconds=35)) == 4  # runs start at 0, 10, 20, 30
    assert len(tsan.run_until_race(Silent(), "read_unlocked", seconds=0)) == 1


# A run of y.flat[x] = x on NumPy 2.2.1 built here with ThreadSanitizer (4 threads × 5000 calls), as TSAN
# printed it: first the byte-order race (the write in PyArray_CheckFromAny_int), then a flags race whose
# stack also passes through PyArray_CheckFromAny_int (2 runs in 30 here printed such a second race).
BYTEORDER_RUN = (FIXTURES / "tsan" / "numpy-2.2.1-flat-byteorder.txt").read_text()
BYTEORDER_STDOUT = ('{"example": "numpy_races", "python": "3.14.7", "numpy": "2.2.1", "gil_enabled": false, '
                    '"threads": 4, "iterations": 5000, "case": "flat-byteorder", "calls": 20000, "surprises": 0, '
                    '"seconds": 1.437, "worker_errors": [], "timed_out": false, "race_observed": false}\n')


def _reports_of(text: str) -> list[str]:
    """The run's reports as TSAN printed them, each between its two ``=`` rules."""
    return [block + "==================\n" for block in text.split("==================\n==================\n")]


def test_a_race_through_a_function_is_not_the_race_written_by_it():
    byteorder, flags = parse_reports(BYTEORDER_RUN)
    assert byteorder.is_whole_race_in("PyArray_CheckFromAny_int") and flags.is_whole_race_in("PyArray_CheckFromAny_int")
    assert byteorder.write_by("PyArray_CheckFromAny_int").own_top.location == "ctors.c:1843"
    assert flags.write_by("PyArray_CheckFromAny_int") is None
    assert [r.is_whole_race_in("PyArray_CheckFromAny_int", written_by="PyArray_CheckFromAny_int")
            for r in (byteorder, flags)] == [True, False]


@pytest.mark.needs_envs("sources")  # the claim reads the written line from 2.2.1's ctors.c
def test_the_byte_order_claim_reads_the_byte_order_race_whatever_comes_first():
    """Race: (the claim's own) CI's build of 011bab8 met the flags race first, read it as the byte-order one, failed.

    The reports below are the fixture's own, reordered or left out, as other runs print them.
    """
    from ftbook.claims import finding_races_numpy_under_tsan as claims

    first, second = _reports_of(BYTEORDER_RUN)
    assert parse_reports(first)[0].write_by("PyArray_CheckFromAny_int") is not None  # the byte-order race
    assert len(parse_reports(second + first)) == 2

    def run(stderr: str) -> Outcome:
        return Outcome(["python"], 66, 9.0, BYTEORDER_STDOUT, stderr, request=claims.FLAT_BYTEORDER["2.2.1"])

    report = claims.flat_assignment_writes_the_intp_byte_order_on_2_2_1(run(second + first))
    assert report.write_by(claims.BYTEORDER_WRITER) is not None
    with pytest.raises(AssertionError, match="written by PyArray_CheckFromAny_int"):
        claims.flat_assignment_writes_the_intp_byte_order_on_2_2_1(run(second))
    assert claims.flat_assignment_writes_the_intp_byte_order_on_2_2_1(run(second), run(first)) is not None


def test_runs_go_on_until_the_race_is_written_by_the_function_asked():
    """A run whose only race through the function is another write's is kept, and another run is tried."""
    first, second = _reports_of(BYTEORDER_RUN)
    outputs = iter([second, second + first, first])

    class Replay:
        def run(self):
            return Outcome(["python"], 66, 9.0, "", next(outputs))

    runs = tsan.run_until_race(Replay(), "PyArray_CheckFromAny_int", seconds=60,
                               written_by="PyArray_CheckFromAny_int")
    assert [run.kinds() for run in runs] == ["1 × data race", "2 × data race"]
