"""What docs/chapters/family/restore.md asserts."""

from __future__ import annotations

from ftbook.run import ExampleRun, Outcome

HACK_REMOVED_IN = "numpy-2.3.0"  # the first release without the 0-d out hack (#27997)
# Where nothing can be seen, by construction: exit 0, or 3 if a loaded machine ran into the
# example's own time limit first (then it saw nothing in the iterations it did).
CLEAN = (0, 3)
NAMES, SWAPPED = ["x", "y"], ["y", "x"]


def out_has_one_dimension_only_before_2_3_0(outcome: Outcome) -> None:
    """Race: up to 2.2.6 a reduction sets its 0-d ``out``'s ``nd`` to 1 and back; 2.3.0 never writes it.

    Every reduction puts ``nd`` back and computes the right sum, so one
    thread alone never notices. On 2.3.0 a watcher reading ``out.ndim`` or
    ``out.shape`` never sees one dimension, by construction; on 2.2.6 how
    often it does is timing's (a count, not asserted).
    """
    summary = outcome.check()
    assert summary["final_ndim"] == 0 and summary["sum_ok"], summary
    if outcome.request.env == HACK_REMOVED_IN:
        assert summary["odd_reads"] == 0 and outcome.returncode in CLEAN, (summary, outcome.describe())


def argsort_order_shows_the_swapped_names(outcome: Outcome) -> None:
    """Race: ``a.argsort(order=...)`` swaps the shared array's dtype pointer for a reordered copy and back.

    An object field's ``__lt__`` runs inside the swap, so the hook and
    another thread both see ``("y", "x")``, with the GIL off or on; the
    names are restored afterwards, so one thread alone sees nothing.
    """
    summary = outcome.check()
    assert not summary["timed_out"] and summary["final_names"] == NAMES, summary
    assert summary["hook_saw"] == SWAPPED and summary["reader_saw"] == SWAPPED, summary
    assert outcome.returncode == 1, outcome.describe()


def sorting_a_view_leaves_the_names_alone(outcome: Outcome) -> None:
    """The fix: ``a[["y", "x"]].argsort()`` sorts a new view; inside its sort the shared array is as it is."""
    summary = outcome.check()
    assert not summary["timed_out"] and summary["final_names"] == NAMES, summary
    assert summary["hook_saw"] == NAMES and summary["reader_saw"] == NAMES, summary
    assert summary["race_observed"] is False and outcome.returncode == 0, outcome.describe()


def every_sorter_gives_the_same_order(*outcomes: Outcome) -> None:
    """The fix gives the same answer: the view's argsort returns the indices ``order=`` returns."""
    results = {tuple(outcome.check()["result"]) for outcome in outcomes}
    assert len(results) == 1, results


def a_sorted_view_is_never_seen_under_stress(outcome: Outcome) -> None:
    """The fix, under stress: while views are sorted in a loop, the shared ``dtype.names`` never change.

    By construction (the shared array is never written), unlike the
    ``order=`` runs, whose sightings and crashes are counts, not asserted.
    """
    summary = outcome.check()
    assert summary["sorter"] == "view" and summary["sorts"] > 0, summary
    assert summary["odd_reads"] == 0 and outcome.returncode in CLEAN, (summary, outcome.describe())


def _forced(sorter: str, *, gil: bool = False) -> ExampleRun:
    return ExampleRun("sort_order_window.py", ("--sorter", sorter, "--mode", "forced", "--json"),
                      gil=gil, timeout=60)


WATCH = ("--iterations", "20000", "--json")
TEST_RUNS = [
    (out_has_one_dimension_only_before_2_3_0,
     [ExampleRun("out_ndim_watcher.py", WATCH, env="numpy-2.3.0")]),
    (out_has_one_dimension_only_before_2_3_0,
     [ExampleRun("out_ndim_watcher.py", WATCH, env="numpy-2.3.0", gil=True)]),
    (out_has_one_dimension_only_before_2_3_0,
     [ExampleRun("out_ndim_watcher.py", ("--read", "shape", *WATCH), env="numpy-2.3.0")]),
    (out_has_one_dimension_only_before_2_3_0,
     [ExampleRun("out_ndim_watcher.py", WATCH, env="numpy-2.2.6")]),
    (argsort_order_shows_the_swapped_names, [_forced("order")]),
    (argsort_order_shows_the_swapped_names, [_forced("order", gil=True)]),
    (sorting_a_view_leaves_the_names_alone, [_forced("view")]),
    (every_sorter_gives_the_same_order, [_forced("view"), _forced("order")]),
    (a_sorted_view_is_never_seen_under_stress,
     [ExampleRun("sort_order_window.py", ("--sorter", "view", "--mode", "stress", "--iterations", "100",
                                          "--json"))]),
]
