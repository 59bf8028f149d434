"""What docs/chapters/the-bug.md asserts."""

from __future__ import annotations

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

    Each run ended by passing, by the test's own error or by a signal
    (never by pytest failing to collect or run the test), all asked-for
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
    (scipy_test_passes_with_the_fix, [ExampleRun("scipy_somersd.py", ("--runs", "1", "--json"),
                                                 env="scipy-numpy-2.2.3")]),
    (scipy_runs_ran_as_labelled, [ExampleRun("scipy_somersd.py", ("--runs", "1", "--json"),
                                             env="scipy-numpy-2.2.2")]),
]
