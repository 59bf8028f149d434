"""What docs/chapters/family/descriptors.md asserts."""

from __future__ import annotations

from ftbook.run import ExampleRun, Outcome

FIXED_IN = "numpy-2.2.6"  # the default instance born claimed, and the claim under a lock (#28862)


def first_array_claims_the_default_instance_before_2_2_6(outcome: Outcome) -> None:
    """Race: up to 2.2.5 the first array made from the StringDType class is handed NumPy's default instance.

    It claims and keeps it, so NumPy's own references to it show on that
    array's descriptor (one thread, deterministic). From 2.2.6 the
    instance is created already claimed: both arrays get private copies.
    """
    summary = outcome.check()
    assert summary["mode"] == "claim", summary
    if outcome.request.env == FIXED_IN:
        assert summary["extra_references"] == 0 and outcome.returncode == 0, (summary, outcome.describe())
    else:
        assert summary["extra_references"] > 0 and outcome.returncode == 1, (summary, outcome.describe())


def a_descriptor_is_never_claimed_twice_from_2_2_6(outcome: Outcome) -> None:
    """The fix: from 2.2.6 the check and the claim happen under the descriptor's lock, so never twice.

    On 2.2.5 two threads can both claim one descriptor (a count, not asserted).
    """
    summary = outcome.check()
    assert outcome.request.env == FIXED_IN and summary["mode"] == "stress", summary
    assert summary["both_claimed"] == 0 and summary["rounds"] > 0, summary


TEST_RUNS = [
    (first_array_claims_the_default_instance_before_2_2_6,
     [ExampleRun("stringdtype_claim.py", ("--mode", "claim", "--json"), env="numpy-2.2.5", timeout=60)]),
    (first_array_claims_the_default_instance_before_2_2_6,
     [ExampleRun("stringdtype_claim.py", ("--mode", "claim", "--json"), env="numpy-2.2.6", timeout=60)]),
    (a_descriptor_is_never_claimed_twice_from_2_2_6,
     [ExampleRun("stringdtype_claim.py", ("--mode", "stress", "--iterations", "2000", "--json"),
                 env="numpy-2.2.6")]),
]
