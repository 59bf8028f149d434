"""What docs/chapters/finding-races/numpy-tests-under-tsan.md asserts.

The recipe's run: the two regression tests this book follows, in today's
``test_multithreading.py`` (2.5.5's, copied out of its sdist), on 2.5.5 built
here with ThreadSanitizer, with the ``TSAN_OPTIONS`` of NumPy's TSAN job at
2.5.5, its suppressions file included.

Then each regression test NumPy added with a fix for a live case, copied out
of the sdist of the release that fixed it, runs once
(``examples/pytest_runs.py``) on the release before and on that release, both
built here with ThreadSanitizer, with the ``TSAN_OPTIONS`` and pytest's ``-s``
of NumPy's own TSAN job at the time. The chapter runs these requests.
"""

from __future__ import annotations

from ftbook.provision.sources import sdist_dir
from ftbook.recipes import TODAYS_JOB, TODAYS_OPTIONS
from ftbook.run import Outcome
from ftbook.tsan import parse_reports, tsan_request

# NumPy's job at v2.2.3 (.github/workflows/compiler_sanitizers.yml L124): the first report stops the
# process, with TSAN's exit status (the book's tsan_request sets exitcode=66).
NUMPYS_OPTIONS = {"allocator_may_return_null": "1", "halt_on_error": "1"}
# One pytest run; with its startup, inside a cell's 300 s (the flat-iterator test is the slow one).
RUN_SECONDS = 200
FLAT, REPEAT = "test_parallel_flat_iterator", "test_multithreaded_repeat"
# The function in whose stack each test's race is reported, as the issues the fixes closed name them.
RACING = {FLAT: ("PyArray_RawIterBaseInit", "PyArray_CheckFromAny_int"), REPEAT: ("PyArray_Repeat",)}
FIXED_IN = {FLAT: "2.2.2", REPEAT: "2.2.3"}


# NumPy's job at today's release: its options (ftbook.recipes says which), which the chapter checks.
TODAY = TODAYS_JOB


def _todays_run(*tests: str):
    """*tests* of today's test_multithreading.py on today's NumPy built with ThreadSanitizer."""
    test_file = str(sdist_dir(TODAY) / "numpy/_core/tests/test_multithreading.py")
    arguments = ("--runs", "1", "--run-timeout", str(RUN_SECONDS), "--timeout", str(RUN_SECONDS + 30),
                 "--keep-stderr", "--copy-test", test_file, "--json", "--", "-s", "-v",
                 "-k", " or ".join(tests))
    return tsan_request("pytest_runs.py", *arguments, options=TODAYS_OPTIONS, env="tsan-numpy-2.5.5",
                        timeout=RUN_SECONDS + 60)


TODAYS_RUN = _todays_run(FLAT, REPEAT)


def _test_run(test: str, env: str):
    """*test*, from the sdist that added it, on *env*, with that release's ``run_threaded`` (its signature
    changed in 2.2.3: the plugin ``examples/numpy_run_threaded.py`` puts the test's own in place)."""
    sources = sdist_dir(FIXED_IN[test]) / "numpy"
    utilities = (("NUMPY_RUN_THREADED_FROM", str(sources / "testing/_private/utils.py")),)
    test_file = str(sources / "_core/tests/test_multithreading.py")
    arguments = ("--runs", "1", "--run-timeout", str(RUN_SECONDS), "--timeout", str(RUN_SECONDS + 30),
                 "--keep-stderr", "--copy-test", test_file, "--json", "--", "-s", "-p", "numpy_run_threaded",
                 "-k", test)
    return tsan_request("pytest_runs.py", *arguments, options=NUMPYS_OPTIONS, env=env, variables=utilities,
                        timeout=RUN_SECONDS + 60)


# (test, release it ran on): the release before the fix, and the release with it.
MATRIX = {
    (FLAT, "2.2.1"): _test_run(FLAT, env="tsan-numpy-2.2.1"),
    (FLAT, "2.2.2"): _test_run(FLAT, env="tsan-numpy-2.2.2"),
    (REPEAT, "2.2.2"): _test_run(REPEAT, env="tsan-numpy-2.2.2"),
    (REPEAT, "2.2.3"): _test_run(REPEAT, env="tsan-numpy-2.2.3"),
}


def todays_tests_pass_clean_with_numpys_suppressions(outcome: Outcome) -> None:
    """The fixes hold: on 2.5.5, run as NumPy's job runs them, both tests pass and TSAN reports nothing."""
    _clean(outcome, TODAY)


def flat_iterator_test_stops_on_2_2_1(outcome: Outcome) -> None:
    """Race: 2.2.2's test for #28042 and #28143, on 2.2.1, is stopped by a report of the race it guards."""
    _stopped(outcome, FLAT, "2.2.1")


def flat_iterator_test_passes_clean_on_2_2_2(outcome: Outcome) -> None:
    """The fix: the same test on 2.2.2, the release that added it, passes with no report."""
    _clean(outcome, "2.2.2")


def repeat_test_stops_on_2_2_2(outcome: Outcome) -> None:
    """Race: 2.2.3's test for #28197, on 2.2.2, is stopped by a report of a race in ``PyArray_Repeat``."""
    _stopped(outcome, REPEAT, "2.2.2")


def repeat_test_passes_clean_on_2_2_3(outcome: Outcome) -> None:
    """The fix: the same test on 2.2.3 passes with no report."""
    _clean(outcome, "2.2.3")


def _first_report(run: dict):
    """The report that stopped *run*, one of a summary's runs (halt_on_error=1: the only one), or None."""
    reports = parse_reports(run.get("stderr", ""))
    return reports[0] if reports else None


def _stopped(outcome: Outcome, test: str, version: str) -> None:
    summary = outcome.check()
    assert summary["numpy"] == version, summary["numpy"]
    (run,) = summary["runs"]
    assert summary["sanitizer_stopped"] == 1, run["ended"]
    report = _first_report(run)
    assert report is not None and report.kind == "data race", run.get("stderr", "")[-3000:]
    assert set(RACING[test]) & report.functions(), report.excerpt(max_frames=12)


def _clean(outcome: Outcome, version: str) -> None:
    summary = outcome.check()
    assert summary["numpy"] == version, summary["numpy"]
    (run,) = summary["runs"]
    assert run["ended"] == "passed" and run["tsan_reports"] == 0, run
    assert outcome.returncode == 0, outcome.describe()


TEST_RUNS = [
    (todays_tests_pass_clean_with_numpys_suppressions, [TODAYS_RUN]),
    (flat_iterator_test_stops_on_2_2_1, [MATRIX[FLAT, "2.2.1"]]),
    (flat_iterator_test_passes_clean_on_2_2_2, [MATRIX[FLAT, "2.2.2"]]),
    (repeat_test_stops_on_2_2_2, [MATRIX[REPEAT, "2.2.2"]]),
    (repeat_test_passes_clean_on_2_2_3, [MATRIX[REPEAT, "2.2.3"]]),
]
