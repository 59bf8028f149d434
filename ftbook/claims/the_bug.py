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


TEST_RUNS = [
    (no_repeat_race_without_the_bug, _runs("numpy-2.2.2", gil=True)),
    (no_repeat_race_without_the_bug, _runs("numpy-2.2.3")),
    (no_repeat_race_without_the_bug, _runs(None)),
    (buggy_runs_ran_as_labelled, _runs("numpy-2.2.2")),
]
