"""What docs/chapters/the-bug.md asserts."""

from __future__ import annotations

from ftbook.build import CELL_TIMEOUT
from ftbook.provision.sources import sdist_dir
from ftbook.run import ExampleRun, Outcome


def no_repeat_race_without_the_bug(*outcomes: Outcome) -> None:
    """Race: np.repeat on one shared array (#28197). Where the bug cannot show, nothing goes wrong.

    The configurations without it (the GIL on, NumPy 2.2.3's fix, today's
    NumPy) never crash, never return a wrong result, and the watcher never
    sees a shape other than (4, 3). Deterministic: the fix does not write
    the input at all, and with the GIL on nothing in the int64 window lets
    another thread in. (With the bug and the GIL off the counts are timing:
    reported, never asserted.)
    """
    for outcome in outcomes:
        summary = outcome.check()
        assert outcome.returncode == 0, outcome.describe()
        if outcome.request.example == "repeat_stress.py":
            assert summary["wrong_shapes"] == summary["wrong_values"] == 0, summary
        else:
            assert summary["transient_reads"] == 0, summary


def buggy_runs_ran_as_labelled(*outcomes: Outcome) -> None:
    """The runs with the bug ran with the GIL off on NumPy 2.2.2: a crash there is the race, not a setup slip.

    A crashed run prints no summary; every run that printed one must show
    the GIL off and the release asked for.
    """
    for outcome in outcomes:
        if outcome.summary is not None:
            outcome.check(worker_errors=True)
        else:
            assert outcome.signal, f"{outcome.label()}: no summary and no signal ({outcome.describe()})"


def numpy_test_as_shipped_cannot_start_on_2_2_2(outcome: Outcome) -> None:
    """NumPy 2.2.3's test_multithreaded_repeat, with 2.2.2's own run_threaded, fails before np.repeat runs.

    The helper changed in the same release: 2.2.2's run_threaded still takes
    ``iters`` (default 8) and refuses ``pass_barrier=True`` unless
    ``max_workers`` equals it, and the test asks for 10 workers. Every run
    fails with that RuntimeError: deterministic, and no evidence either way
    about the race.
    """
    summary = outcome.check()
    assert summary["failed"] == len(summary["runs"]) == _runs_asked(outcome), summary["runs"]
    assert all("Must set max_workers equal to the number of iterations" in (run["error"] or "")
               for run in summary["runs"]), summary["runs"]


def numpy_test_passes_with_the_fix(outcome: Outcome) -> None:
    """The fix: NumPy's own regression test for #28197 passes in every run on the release that added it."""
    summary = outcome.check()
    assert summary["passed"] == len(summary["runs"]) == _runs_asked(outcome), summary["runs"]
    assert outcome.returncode == 0, outcome.describe()


def numpy_test_runs_ran_as_labelled(outcome: Outcome) -> None:
    """Race: on 2.2.2, with 2.2.3's run_threaded swapped in, every run ran the test (whatever its end).

    Passed, failed, crashed or hung, never pytest trouble (a test not collected, a plugin not loaded): how
    often the test catches the race is timing, reported and not asserted.
    """
    summary = outcome.check()
    assert len(summary["runs"]) == _runs_asked(outcome) and summary["other"] == 0, summary["runs"]


SCIPY_TESTS = "scipy.stats.tests.test_hypotests"
SOMERSD = ("--pyargs", SCIPY_TESTS, "-k", "TestSomersD and test_strided", "--parallel-threads=40")
# Each configuration's runs fit in one chapter cell: a run that hangs (a dying interpreter can) is
# killed after its run_seconds and counted as timed out; all the runs stop at BUDGET; the request
# itself is killed only after that, so a hang is reported, never a missing summary.
CELL_SECONDS = CELL_TIMEOUT - 30  # a margin under the book's limit per cell
BUDGET = CELL_SECONDS - 30  # pytest_runs.py's own limit, inside the cell's


def _bounded_runs(env, runs, run_seconds, *arguments, variables=()) -> ExampleRun:
    """*runs* pytest processes in book environment *env*, each killed after *run_seconds*, all in BUDGET."""
    return ExampleRun("pytest_runs.py", ("--runs", str(runs), "--run-timeout", str(run_seconds),
                                         "--timeout", str(BUDGET), "--json", *arguments),
                      env=env, variables=tuple(variables), timeout=CELL_SECONDS)


def scipy_runs(env, runs, *pytest_options) -> ExampleRun:
    """*runs* pytest processes of SciPy's TestSomersD::test_strided on 40 threads in *env*.

    A run takes 3–7 s on an idle 2-core machine, so 40 s is a hang (or a machine very busy).
    """
    return _bounded_runs(env, runs, 40, "--import-check", SCIPY_TESTS, "--", *SOMERSD, *pytest_options)


def numpy_test_runs(env, runs, *pytest_options, run_threaded_of_2_2_3=False) -> ExampleRun:
    """*runs* pytest processes of the test_multithreaded_repeat 2.2.3 added, copied out of its sdist.

    With *run_threaded_of_2_2_3*, a pytest plugin (``examples/numpy_run_threaded.py``) swaps 2.2.3's
    ``run_threaded`` in for the installed release's. A run takes 2–3 s on an idle 2-core machine.
    """
    sources = sdist_dir("2.2.3") / "numpy"
    test = str(sources / "_core/tests/test_multithreading.py")
    plugin = ("-p", "numpy_run_threaded") if run_threaded_of_2_2_3 else ()
    helper = (("NUMPY_RUN_THREADED_FROM", str(sources / "testing/_private/utils.py")),)
    return _bounded_runs(env, runs, 20, "--copy-test", test, "--", *plugin, *pytest_options,
                         "-k", "test_multithreaded_repeat", variables=helper if run_threaded_of_2_2_3 else ())


def _runs(env, gil=False):
    stress = ("--threads", "4", "--iterations", "2000", "--json")
    watch = ("--threads", "1", "--iterations", "20000", "--json")
    return [ExampleRun("repeat_stress.py", stress, env=env, gil=gil),
            ExampleRun("shape_watcher.py", watch, env=env, gil=gil)]


def _runs_asked(outcome: Outcome) -> int:
    args = list(outcome.request.args)
    return int(args[args.index("--runs") + 1])


def scipy_test_passes_with_the_fix(outcome: Outcome) -> None:
    """The fix: on NumPy 2.2.3, SciPy's own TestSomersD::test_strided passes in every run, on 40 threads.

    The arrays setup_method builds are shared by every thread and only read:
    with np.repeat no longer writing its input, nothing in the test writes
    them. Every run passing is the fix, not luck; every run ending otherwise
    (a failure, a signal, pytest not running the test) fails the build.
    """
    summary = outcome.check()
    assert len(summary["runs"]) == _runs_asked(outcome), summary["runs"]
    assert summary["passed"] == len(summary["runs"]), summary["runs"]
    assert summary["gil_enabled_on_import"] is False, "importing SciPy's test module turned the GIL on"
    assert outcome.returncode == 0, outcome.describe()


def scipy_runs_ran_as_labelled(outcome: Outcome) -> None:
    """The runs on NumPy 2.2.2 are what the table says: pytest ran SciPy's test in every one, the GIL off.

    Each run ended by passing, by the test's own error, by a signal or by
    being killed at its time limit (a dying interpreter can hang; shown as
    measured), never by pytest failing to collect or run the test; all asked-for
    runs happened, and SciPy's modules keep the GIL off on their own. How
    many runs failed or crashed is timing: reported, never asserted.
    """
    summary = outcome.check()
    assert len(summary["runs"]) == _runs_asked(outcome), summary["runs"]
    assert summary["other"] == 0, summary["runs"]
    assert summary["gil_enabled_on_import"] is False, "importing SciPy's test module turned the GIL on"


TEST_RUNS = [
    (no_repeat_race_without_the_bug, _runs("numpy-2.2.2", gil=True)),
    (no_repeat_race_without_the_bug, _runs("numpy-2.2.3")),
    (no_repeat_race_without_the_bug, _runs(None)),
    (buggy_runs_ran_as_labelled, _runs("numpy-2.2.2")),
    (scipy_test_passes_with_the_fix, [scipy_runs("scipy-numpy-2.2.3", 1, "--iterations=200")]),
    (scipy_runs_ran_as_labelled, [scipy_runs("scipy-numpy-2.2.2", 1, "--iterations=200")]),
    (numpy_test_as_shipped_cannot_start_on_2_2_2, [numpy_test_runs("scipy-numpy-2.2.2", 1)]),
    (numpy_test_passes_with_the_fix, [numpy_test_runs("scipy-numpy-2.2.3", 1)]),
    (numpy_test_runs_ran_as_labelled, [numpy_test_runs("scipy-numpy-2.2.2", 1, run_threaded_of_2_2_3=True)]),
]
