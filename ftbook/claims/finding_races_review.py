"""What docs/chapters/finding-races/review.md asserts about the checker on the book's own demo."""

from __future__ import annotations

from ftbook.run import EXAMPLES, ExampleRun, Outcome


def flags_mutate_restore_not_copy_modify(outcome: Outcome) -> None:
    """Race: the demo's mutate-restore writes shared dims through a local pointer; copy-modify, a copy.

    The checker must find the first (through the pointer it follows) and
    nothing in the second. The scanner imports no extension, so the GIL
    stays off.
    """
    summary = outcome.check()
    assert outcome.returncode == 0 and summary["files"] >= 1, (outcome.describe(), summary)
    functions = {finding["function"] for finding in summary["findings"]}
    assert "repeat_mutate_restore" in functions and "repeat_copy_modify" not in functions, functions


TEST_RUNS = [
    (flags_mutate_restore_not_copy_modify,
     [ExampleRun("find_metadata_writes.py", (str(EXAMPLES / "metadata_demo.c"), "--json"))]),
    # No paths: the folder the script is in, which holds the demo extension.
    (flags_mutate_restore_not_copy_modify, [ExampleRun("find_metadata_writes.py", ("--json",))]),
]
