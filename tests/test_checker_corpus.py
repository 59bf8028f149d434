"""ftbook.checker_corpus's scoring, on small fake release trees, and its corpus's own consistency."""

import pytest

from ftbook import checker_corpus as cc
from ftbook import ownership

REPEAT_BEFORE = """
PyObject *
PyArray_Repeat(PyArrayObject *aop, int axis, npy_intp n)
{
    PyArray_DIMS(aop)[axis] = n;
    return NULL;
}
"""
REPEAT_AFTER = """
PyObject *
PyArray_Repeat(PyArrayObject *aop, int axis, npy_intp n)
{
    npy_intp dims[NPY_MAXDIMS];
    dims[axis] = n;
    return NULL;
}
"""
CLAIM_BEFORE = """
PyArray_Descr *
finalize(PyArray_Descr *dtype)
{
    if (dtype->owned == 0) {
        dtype->owned = 1;
    }
    return dtype;
}
"""
CLAIM_AFTER = """
PyArray_Descr *
finalize(PyArray_Descr *dtype)
{
    Py_BEGIN_CRITICAL_SECTION(dtype);
    if (dtype->owned == 0) {
        dtype->owned = 1;
    }
    Py_END_CRITICAL_SECTION();
    return dtype;
}
"""
# Today's tree: one real shared write, one write to an array made here, one lazy fill on a parameter.
TODAY = """
void
setter(PyArrayObject *self)
{
    PyArray_STRIDES(self)[0] = 8;
}

PyObject *
build(PyArray_Descr *descr)
{
    PyArrayObject *ret = (PyArrayObject *)PyArray_NewFromDescr(&PyArray_Type, descr, 1, NULL, NULL,
                                                               NULL, 0, NULL);
    PyArray_DIMS(ret)[0] = 1;
    return (PyObject *)ret;
}
""" + CLAIM_BEFORE


def tree(tmp_path, files):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.fixture
def fake(tmp_path):
    trees = {
        "1.0": tree(tmp_path / "1.0", {"src/repeat.c": REPEAT_BEFORE, "src/claim.c": CLAIM_BEFORE}),
        "1.1": tree(tmp_path / "1.1", {"src/repeat.c": REPEAT_AFTER, "src/claim.c": CLAIM_AFTER}),
        "2.0": tree(tmp_path / "2.0", {"numpy/today.c": TODAY}),
    }
    cases = (
        cc.Case("repeat", "#1", "", "1.0", "1.1", "src/repeat.c", "PyArray_Repeat", "index"),
        cc.Case("claim", "#2", "", "1.0", "1.1", "src/claim.c", "finalize", "lazy"),
        cc.Case("open", "#3", "", "2.0", None, "numpy/today.c", "setter", "index"),
    )
    judgements = {("setter", "self"): (cc.SHARED, "a setter"), ("build", "ret"): (cc.BUILDING, "new"),
                  ("finalize", "dtype"): (cc.SETUP, "before it is shared")}
    return cc.Corpus(cases, judgements, trees.__getitem__, "2.0")


def scores(corpus):
    outcomes = [run.run() for run in cc.all_runs(corpus)]
    return (cc.score(outcomes, cc.FIRST_VERSION, corpus=corpus),
            cc.score(outcomes, cc.ALL_RULES, by_origin=False, corpus=corpus),
            cc.score(outcomes, cc.ALL_RULES, corpus=corpus))


def test_recall_counts_a_case_flagged_before_and_not_after(fake):
    first, _, told_apart = scores(fake)
    assert [case.name for case in first.caught] == ["repeat", "open"]
    assert first.flagged[fake.cases[1]] == (False, False)  # the first version has no lazy rule
    assert [case.name for case in told_apart.caught] == ["repeat", "claim", "open"]
    assert told_apart.flagged[fake.cases[1]] == (True, False)  # the critical section is seen
    assert told_apart.recall == 1 and first.recall == pytest.approx(2 / 3)


def test_precision_counts_only_shared_writes_and_sets_created_objects_aside(fake):
    first, every, told_apart = scores(fake)
    assert len(first.today) == 2 and len(first.real) == 1  # setter and build: it cannot tell them apart
    assert len(every.today) == 3 and every.precision == pytest.approx(1 / 3)
    assert sorted(f["function"] for f in told_apart.today) == ["finalize", "setter"]
    assert told_apart.precision == pytest.approx(1 / 2)
    assert not told_apart.unjudged


def test_a_finding_without_judgement_is_listed(fake):
    unjudged = cc.Corpus(fake.cases, {}, fake.tree, fake.today)
    _, every, _ = scores(unjudged)
    assert every.unjudged == [("build", "ret"), ("finalize", "dtype"), ("setter", "self")]
    assert every.precision == 0


def site(function, line, field, obj):
    return ownership.Site("numpy/today.c", line, function, "array", field, obj, "", "", "none", None)


def line_of(text):
    return next(n for n, line in enumerate(TODAY.splitlines(), start=1) if line.strip() == text)


def test_a_write_the_ownership_map_lists_takes_the_maps_verdict(fake, monkeypatch):
    """The map judges setter's write (in place, racy) and finalize's (teardown, here: safe); build's is
    left to the checker. A checker judgement of a write the map lists is not needed, so the claim's
    check of needed judgements fails on it."""
    setter = site("setter", line_of("PyArray_STRIDES(self)[0] = 8;"), "strides", "self")
    claim = site("finalize", line_of("dtype->owned = 1;"), "owned", "dtype")
    monkeypatch.setattr(ownership, "JUDGEMENTS", {
        "setter": ownership._judge("in place, by design", "array.strides", why="the map's reason"),
        "finalize": ownership._judge("teardown", "array.owned", why="freed")})
    mapped = cc.Corpus(fake.cases, {("build", "ret"): (cc.BUILDING, "new")}, fake.tree, fake.today,
                       lambda: (setter, claim))
    _, every, told_apart = scores(mapped)
    verdicts = {f["function"]: cc.verdict_of(f, mapped) for f in every.today}
    assert verdicts["setter"] == cc.Verdict("in place, by design", True, "the map's reason", by_map=True)
    assert verdicts["finalize"].says == "teardown" and not verdicts["finalize"].shared
    assert verdicts["build"] == cc.Verdict(cc.BUILDING, False, "new", by_map=False)
    assert [f["function"] for f in told_apart.real] == ["setter"] and not every.unjudged
    # build's write of the dims is metadata by its kind, on a line the map does not list: a hole in the map.
    assert [f["function"] for f in every.missed_by_the_map] == ["build"]


def test_without_a_map_a_finding_of_metadata_is_not_called_missed(fake):
    _, every, _ = scores(fake)
    assert every.missed_by_the_map == []


def test_the_corpus_is_consistent():
    """Every case names a release the book pins, a fix unless open, and a verdict the score knows."""
    from ftbook.provision.sources import BRACKETING_RELEASES, CURRENT_NUMPY

    pinned = {*BRACKETING_RELEASES, CURRENT_NUMPY}
    for case in cc.CASES:
        assert case.before in pinned and (case.after is None or case.after in pinned), case
        assert (case.after is None) == (case.fix == ""), case
        assert case.before == CURRENT_NUMPY or case.after is not None, case
    assert {verdict for verdict, _ in cc.JUDGEMENTS.values()} <= set(cc.CATEGORIES)
