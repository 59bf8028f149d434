"""What docs/chapters/the-bug.md asserts."""

from __future__ import annotations

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


def _numpy_test_run(env, *, run_threaded_of_2_2_3=False):
    """One run of the test 2.2.3 added, copied out of its sdist, as the chapter runs it."""
    sources = sdist_dir("2.2.3") / "numpy"
    plugin = ("-p", "numpy_run_threaded") if run_threaded_of_2_2_3 else ()
    variables = (("NUMPY_RUN_THREADED_FROM", str(sources / "testing/_private/utils.py")),)
    test = str(sources / "_core/tests/test_multithreading.py")
    return ExampleRun("pytest_runs.py", ("--runs", "1", "--copy-test", test, "--json", "--", *plugin,
                                         "-k", "test_multithreaded_repeat"),
                      env=env, variables=variables if run_threaded_of_2_2_3 else ())


def _scipy_run(env):
    """One pytest run of SciPy's TestSomersD::test_strided, 40 threads × 200 iterations, as the chapter's."""
    test = "scipy.stats.tests.test_hypotests"
    pytest = ("--pyargs", test, "-k", "TestSomersD and test_strided", "--parallel-threads=40",
              "--iterations=200")
    return ExampleRun("pytest_runs.py", ("--runs", "1", "--import-check", test, "--json", "--", *pytest),
                      env=env)


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
    (scipy_test_passes_with_the_fix, [_scipy_run("scipy-numpy-2.2.3")]),
    (scipy_runs_ran_as_labelled, [_scipy_run("scipy-numpy-2.2.2")]),
    (numpy_test_as_shipped_cannot_start_on_2_2_2, [_numpy_test_run("scipy-numpy-2.2.2")]),
    (numpy_test_passes_with_the_fix, [_numpy_test_run("scipy-numpy-2.2.3")]),
    (numpy_test_runs_ran_as_labelled, [_numpy_test_run("scipy-numpy-2.2.2", run_threaded_of_2_2_3=True)]),
]
