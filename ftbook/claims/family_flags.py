"""What docs/chapters/family/flags.md asserts."""

from __future__ import annotations

from ftbook.run import ExampleRun, Outcome


def refused_setflags_undoes_writeable_false(outcome: Outcome) -> None:
    """Race: a refused ``setflags`` writes back the whole flags word it saw on entry.

    Its argument's ``__bool__`` lets another thread make the array
    read-only first; the refusal (``uic=True``: WRITEBACKIFCOPY) then makes
    it writeable again, with the GIL off or on, on any NumPy.
    """
    summary = outcome.check()
    assert summary["writeable_after_protect"] is False, summary  # the other thread's write took
    assert "WRITEBACKIFCOPY" in summary["error"] and summary["writeable_final"] is True, summary
    assert outcome.returncode == 1, outcome.describe()


def accepted_setflags_keeps_writeable_false(outcome: Outcome) -> None:
    """The contrast: an accepted ``setflags`` clears only its own bit, and the other thread's change stays."""
    summary = outcome.check()
    assert summary["writeable_after_protect"] is False, summary
    assert summary["error"] is None and summary["writeable_final"] is False, summary
    assert outcome.returncode == 0, outcome.describe()


def _setflags(flag: str, *, gil: bool = False) -> ExampleRun:
    return ExampleRun("setflags_restore.py", ("--flag", flag, "--json"), gil=gil, timeout=60)


TEST_RUNS = [
    (refused_setflags_undoes_writeable_false, [_setflags("true")]),
    (refused_setflags_undoes_writeable_false, [_setflags("true", gil=True)]),
    (accepted_setflags_keeps_writeable_false, [_setflags("false")]),
    (accepted_setflags_keeps_writeable_false, [_setflags("false", gil=True)]),
]
