"""What docs/chapters/family/dtype-setter.md asserts."""

from __future__ import annotations

from ftbook.run import ExampleRun, Outcome

# Where nothing can go wrong, by construction: exit 0, or 3 if a loaded machine ran into the
# example's own time limit first (then nothing went wrong in the iterations it did).
CLEAN = (0, 3)


def result_type_beside_a_view_is_clean(outcome: Outcome) -> None:
    """Race: ``x.dtype = ...`` frees the dtype ``np.result_type`` borrowed; a view leaves ``x`` alone.

    So a thread calling ``np.result_type(x, x)`` beside one making views can
    never use a freed dtype: no crash, no error, every view made unless the
    time limit came first. What the setter's runs do is not asserted.
    """
    summary = outcome.check()
    assert summary["writer"] == "view" and outcome.returncode in CLEAN, outcome.describe()
    assert summary["timed_out"] or summary["writes"] == summary["iterations"], summary


TEST_RUNS = [
    (result_type_beside_a_view_is_clean,
     [ExampleRun("dtype_swap_reader.py", ("--writer", "view", "--iterations", "20000", "--json"))]),
]
