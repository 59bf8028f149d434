"""What docs/chapters/family/checker.md asserts."""

from __future__ import annotations

import dataclasses

from ftbook.provision.sources import CURRENT_NUMPY, numpy_sdist
from ftbook.run import ExampleRun, Outcome

# The functions the page judges, one by one; the page's table has a judgement for each.
JUDGED = frozenset({
    "PyArray_FromInterface", "array_from_text", "PyArray_Transpose", "array_shape_set_internal",
    "array_strides_set", "PyArray_Resize_int", "array_setstate",
})
# The dtype setter's in-place write, through a dims pointer passed out of a helper: the page
# says the checker misses it, so if the checker learns to see it, the page must change.
MISSED = "_check_compatibility_with_new_dtype"


def the_checker_finds_exactly_the_judged_functions(outcome: Outcome) -> None:
    """Race: writes through ``PyArray_DIMS``, ``PyArray_SHAPE`` or ``PyArray_STRIDES`` in today's NumPy.

    The checker, run on today's sdist, reports writes in exactly the
    functions the page judges (none of them a new bug), and not the dtype
    setter's helper, which it cannot see through an out-parameter.
    """
    summary = outcome.check()
    assert outcome.returncode == 0, (outcome.describe(), outcome.stderr[-2000:])
    functions = {finding["function"] for finding in summary["findings"]}
    assert functions == JUDGED, sorted(functions ^ JUDGED)
    assert MISSED not in functions


@dataclasses.dataclass(frozen=True)
class _OnTodaysSdist(ExampleRun):
    """The run, with today's unpacked sdist's ``numpy`` folder first: fetched when it runs, not on import."""

    def run(self) -> Outcome:
        tree = numpy_sdist(CURRENT_NUMPY, log=lambda _: None) / "numpy"
        return ExampleRun(self.example, (str(tree), *self.args), self.env, self.gil, self.variables,
                          self.timeout).run()


TEST_RUNS = [
    (the_checker_finds_exactly_the_judged_functions,
     [_OnTodaysSdist("find_metadata_writes.py", ("--threads", "2", "--json"), timeout=240)]),
]
