"""What docs/chapters/the-fix.md asserts beyond the claims of root-cause and the-bug it reuses."""

from __future__ import annotations

from ftbook.run import ExampleRun, Outcome


def copy_modify_survives_stress(outcome: Outcome) -> None:
    """The fix: threads hammering the demo's copy-modify on one shared array never see a wrong result.

    It never writes the shared array, so no interleaving can show a wrong
    shape or value: zero by construction, whatever the timing.
    """
    summary = outcome.check()
    assert outcome.returncode == 0 and not summary["race_observed"], summary
    assert summary["wrong_shapes"] == summary["wrong_values"] == summary["errors"] == 0, summary
    assert summary["final_shape"] == [4, 3], summary


def reader_sees_the_borrowed_shape(outcome: Outcome) -> None:
    """Race: setting a.shape and putting it back is seen by a reader inside the window, GIL on or off.

    The hook holds the window open until the reader has looked: Python code
    runs inside it, so even the GIL lets the reader in. The caller's result
    is right, and the array is whole afterwards.
    """
    summary = outcome.check()
    assert summary["function"] == "mutating" and summary["reader_saw"] == [12], summary
    assert summary["shape"] == [3, 4] and summary["sums"] == [6, 22, 38], summary
    assert outcome.returncode == 1 and summary["race_observed"], outcome.describe()


def reader_sees_only_the_owners_shape(outcome: Outcome) -> None:
    """The fix: with a new view, the same reader at the same moment sees the array as its owner made it."""
    summary = outcome.check()
    assert summary["function"] == "copying" and summary["reader_saw"] == [3, 4], summary
    assert summary["sums"] == [6, 22, 38], summary
    assert outcome.returncode == 0 and not summary["race_observed"], outcome.describe()


BORROWED_SHAPE = {function: ExampleRun("borrowed_shape.py", ("--function", function, "--json"))
                  for function in ("mutating", "copying")}

TEST_RUNS = [
    (copy_modify_survives_stress,
     [ExampleRun("demo_patterns.py", ("--pattern", "copy-modify", "--mode", "stress", "--threads", "4",
                                      "--iterations", "2000", "--json"))]),
    (reader_sees_the_borrowed_shape, [BORROWED_SHAPE["mutating"]]),
    (reader_sees_the_borrowed_shape, [ExampleRun("borrowed_shape.py", ("--function", "mutating", "--json"),
                                                 gil=True)]),
    (reader_sees_only_the_owners_shape, [BORROWED_SHAPE["copying"]]),
]
