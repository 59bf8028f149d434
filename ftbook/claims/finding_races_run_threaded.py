"""What docs/chapters/finding-races/run-threaded.md asserts.

The regression test in ``examples/regression_tests`` (one ``run_threaded``
per test, in the manner of NumPy's test_multithreading.py) runs with plain
pytest on the book's 3.14t, each pattern of the demo extension on its own,
several times; and under ThreadSanitizer, on NumPy 2.5.5 built with it, with
NumPy's own suppressions file: the fixed pattern once, the racy one twice (a
run can miss the race: the threads' atomic updates of the shared array's
reference count can order the two accesses, as a lock would). ``pytest_runs.py`` starts each
pytest run as a process of its own and counts how it ended.
"""

from __future__ import annotations

from ftbook.provision.sources import sdist_dir
from ftbook.run import EXAMPLES, ExampleRun, Outcome
from ftbook.tsan import parse_reports, tsan_request

SUITE = EXAMPLES / "regression_tests"
FIXED, RACY = "repeat_copy_modify", "repeat_mutate_restore"
PLAIN_RUNS = 5
TSAN_NUMPY = "2.5.5"  # the release the tsan-numpy environment below has, and whose suppressions apply
SUPPRESSIONS = sdist_dir(TSAN_NUMPY) / "tools/ci/tsan_suppressions.txt"
# What the chapter asks of TSAN, the rest being the book's defaults: stop at the first report
# (the racy pattern corrupts memory after it), and leave out what NumPy's developers leave out.
TSAN_OPTIONS = {"halt_on_error": "1", "suppressions": str(SUPPRESSIONS)}
RUN_SECONDS = 150  # one pytest run under TSAN: its import of NumPy, a compile of the extension, the test
TSAN_RUNS = {FIXED: 1, RACY: 2}


def _plain(function: str, runs: int = PLAIN_RUNS) -> ExampleRun:
    """*runs* pytest processes of the test for *function*, xfail or not, on the book's 3.14t."""
    arguments = ("--runs", str(runs), "--run-timeout", "60", "--json", "--", str(SUITE), "-v", "-k", function,
                 "--runxfail")
    return ExampleRun("pytest_runs.py", arguments, timeout=60 * runs + 30)


def _under_tsan(function: str) -> ExampleRun:
    """Pytest processes of the test for *function* under ThreadSanitizer (-s: its reports reach stderr)."""
    runs = TSAN_RUNS[function]
    return tsan_request("pytest_runs.py", "--runs", str(runs), "--run-timeout", str(RUN_SECONDS),
                        "--keep-stderr", "--json", "--", "-s", str(SUITE), "-k", function, "--runxfail",
                        options=TSAN_OPTIONS, env="tsan-numpy-2.5.5", timeout=RUN_SECONDS * runs + 30)


# The chapter's runs: each pattern's test, plain and under TSAN.
PLAIN = {function: _plain(function) for function in (FIXED, RACY)}
TSAN = {function: _under_tsan(function) for function in (FIXED, RACY)}


def fixed_pattern_passes_every_plain_run(outcome: Outcome) -> None:
    """The fix: copy-modify never writes the shared input, and its test passes in every run."""
    summary = outcome.check()
    assert summary["runs"] and all(run["ended"] == "passed" for run in summary["runs"]), summary["runs"]
    assert outcome.returncode == 0, outcome.describe()


def tsan_stops_the_racy_patterns_test(outcome: Outcome) -> None:
    """Race: mutate-restore writes the shared input's dims; under TSAN its test is stopped by that report.

    TSAN needs the two accesses unordered, not the bad interleaving; a run
    in which reference-count atomics happened to order them passes with no
    report, and at least one of the runs must be stopped.
    """
    summary = outcome.check()
    for run in summary["runs"]:
        reports = parse_reports(run.get("stderr", ""))
        if run["ended"] == "passed":
            assert not reports, run.get("stderr", "")[-3000:]
        else:
            assert reports and reports[0].is_race_in(RACY), (run["ended"], run.get("stderr", "")[-3000:])
    assert summary["sanitizer_stopped"] >= 1, [run["ended"] for run in summary["runs"]]


def tsan_passes_the_fixed_patterns_test(outcome: Outcome) -> None:
    """The fix: the same test of copy-modify under TSAN, with NumPy built with it, passes with no report."""
    summary = outcome.check()
    (run,) = summary["runs"]
    assert run["ended"] == "passed" and run["tsan_reports"] == 0, run
    assert outcome.returncode == 0, outcome.describe()


TEST_RUNS = [
    (fixed_pattern_passes_every_plain_run, [_plain(FIXED, runs=2)]),
    (tsan_stops_the_racy_patterns_test, [TSAN[RACY]]),
    (tsan_passes_the_fixed_patterns_test, [TSAN[FIXED]]),
]
