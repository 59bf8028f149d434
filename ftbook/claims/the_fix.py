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


TEST_RUNS = [
    (copy_modify_survives_stress,
     [ExampleRun("demo_patterns.py", ("--pattern", "copy-modify", "--mode", "stress", "--threads", "4",
                                      "--iterations", "2000", "--json"))]),
]
