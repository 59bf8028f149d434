"""What docs/chapters/thread-state.md asserts: the np.errstate a new thread starts with."""

from __future__ import annotations

from ftbook.run import ExampleRun, Outcome


def new_thread_inherits_errstate(outcome: Outcome) -> None:
    """Race: on 3.14t a new thread starts with a copy of its starter's context, ``np.errstate`` included.

    Code that relied on a new thread starting with NumPy's defaults now
    inherits its starter's settings.
    """
    summary = outcome.check()
    assert summary["new_thread_divide"] == "raise" and outcome.returncode == 0, summary


def new_thread_starts_with_numpys_defaults(outcome: Outcome) -> None:
    """Race: no inherited context (3.13t, PYTHON_THREAD_INHERIT_CONTEXT=0): a new thread drops np.errstate.

    The thread started inside ``np.errstate(divide="raise")`` sees NumPy's default, ``"warn"``.
    """
    summary = outcome.check()
    assert summary["new_thread_divide"] == "warn" and outcome.returncode == 0, summary


ERRSTATE = ("--json",)
TEST_RUNS = [
    (new_thread_inherits_errstate, [ExampleRun("errstate_thread.py", ERRSTATE)]),
    (new_thread_starts_with_numpys_defaults,
     [ExampleRun("errstate_thread.py", ERRSTATE, variables=(("PYTHON_THREAD_INHERIT_CONTEXT", "0"),))]),
    (new_thread_starts_with_numpys_defaults, [ExampleRun("errstate_thread.py", ERRSTATE, env="numpy-2.2.3")]),
]
