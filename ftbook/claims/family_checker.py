"""What docs/chapters/family/checker.md asserts."""

from __future__ import annotations

from ftbook import checker_corpus as corpus
from ftbook.run import Outcome

# What the first version of the checker reported on today's NumPy, function by function:
# the functions the page judged before the checker learnt more rules.
FIRST_VERSION_FUNCTIONS = frozenset({
    "PyArray_FromInterface", "array_from_text", "PyArray_Transpose", "array_shape_set_internal",
    "array_strides_set", "PyArray_Resize_int", "array_setstate",
})


def the_first_version_sees_only_np_repeat(*outcomes: Outcome) -> None:
    """Race: the family's writes, to arrays and dtypes other threads hold; the first checker saw one kind.

    With the first version's rules (writes through ``PyArray_DIMS``,
    ``PyArray_SHAPE``, ``PyArray_STRIDES`` pointers) only np.repeat's write
    is flagged before its fix and not after, and on today's NumPy it
    reports exactly the seven functions the page judged before.
    Deterministic: a scan of fixed sdists.
    """
    first = corpus.score(list(outcomes), corpus.FIRST_VERSION)
    assert [case.reference for case in first.caught] == ["#28197"], [case.name for case in first.caught]
    assert {f["function"] for f in first.today} == FIRST_VERSION_FUNCTIONS


def every_rule_catches_every_case(*outcomes: Outcome) -> None:
    """The fix: each case is flagged in the release before its fix and no longer in the release with it.

    With all rules, every case of the corpus is flagged in its function
    before the fix; no fixed case is flagged after it (the fix removed the
    write or put it under a lock or critical section, and the checker
    sees that); every open case is flagged in today's release.
    """
    every = corpus.score(list(outcomes), corpus.ALL_RULES)
    missed = [case.name for case, (before, _) in every.flagged.items() if not before]
    still = [case.name for case, (_, after) in every.flagged.items() if after]
    assert not missed and not still, (missed, still)
    assert every.recall == 1


def every_finding_today_is_judged(*outcomes: Outcome) -> None:
    """Race: every write the checker reports on today's NumPy is judged shared or not, by reading it.

    A write of an array's or a dtype's field takes the ownership map's
    verdict, the book's one inventory of those writes; only what the map
    does not list (an nditer's fields, a registration spec ...) is judged
    in ``checker_corpus.JUDGEMENTS``. The build fails on a finding without a
    verdict (a new NumPy, or a new rule, brings one), on a write of metadata
    the map does not list (a hole in the map's scan), and on a judgement of
    the checker's that no finding needs or that the map already gives: the
    two cannot disagree, because only one of them judges each write.
    Setting aside what the function created itself loses no real finding
    and raises the precision.
    """
    first = corpus.score(list(outcomes), corpus.FIRST_VERSION)
    every = corpus.score(list(outcomes), corpus.ALL_RULES, by_origin=False)
    told_apart = corpus.score(list(outcomes), corpus.ALL_RULES)
    assert not first.unjudged and not every.unjudged, (first.unjudged, every.unjudged)
    missed = [(f["function"], f["line"], f["code"])
              for f in (*first.missed_by_the_map, *every.missed_by_the_map)]
    assert not missed, f"writes of metadata the checker sees and the ownership map does not: {missed}"
    findings = (*first.today, *every.today)
    needed = {corpus.judged_as(f) for f in findings if not corpus.verdict_of(f).by_map}
    assert set(corpus.JUDGEMENTS) == needed, sorted(set(corpus.JUDGEMENTS) ^ needed)
    assert any(corpus.verdict_of(f).by_map for f in findings)
    assert len(told_apart.real) == len(every.real), "a real write was set aside as made here"
    assert told_apart.precision > every.precision, (told_apart.precision, every.precision)


TEST_RUNS = [
    (the_first_version_sees_only_np_repeat, corpus.all_runs()),
    (every_rule_catches_every_case, corpus.all_runs()),
    (every_finding_today_is_judged, corpus.all_runs()),
]
