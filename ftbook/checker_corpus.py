"""The checker's corpus and its score: recall on the family's fixes, precision on today's NumPy.

Every case is a write the family pages describe, read in the released
sdists the book pins (``ftbook.provision.sources``): the release before the
fix has it, the release with the fix does not, or, for a case still open,
today's release has it. Each was checked by diffing the file between the
two releases in the sdists and finding the fix commit in numpy/numpy's
history. :func:`score` runs ``examples/find_metadata_writes.py`` on those
trees (once with ``--rules pointers``, the first version's rules, once with
all of them) and judges every finding on today's whole ``numpy`` folder:
by the ownership map (:mod:`ftbook.ownership`) where the map lists the
write, with :data:`JUDGEMENTS` where it does not.

What counts as "flagged": for the first version's rules, any finding (it
cannot tell a fresh array from a shared one, so the reader must read them
all); for all rules, any finding whose ``target_origin`` is neither "created
here" nor "on the stack" (objects the function made itself: set aside).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

from ftbook import ownership
from ftbook.provision.sources import CURRENT_NUMPY, sdist_dir
from ftbook.run import ExampleRun, Outcome

CHECKER = "find_metadata_writes.py"
FIRST_VERSION, ALL_RULES = "pointers", "all"  # the checker's --rules: its first version's, and today's
NUMPY = "https://github.com/numpy/numpy"


@dataclasses.dataclass(frozen=True)
class Case:
    """One write of the family, where a lexical checker can see it."""

    name: str
    reference: str  # "#28197": the issue (or the PR, when there is no issue)
    fix: str  # the commit that removed or synchronised the write ("" while open)
    before: str  # a release with the write
    after: str | None  # the first release without it; None: still in today's release
    file: str  # in the sdist
    function: str
    write: str  # what the function writes, in the checker's words

    @property
    def source_url(self) -> str:
        """The file with the write, at the tag of the release the corpus reads it in (before the fix)."""
        return f"{NUMPY}/blob/v{self.before}/{self.file}"

    @property
    def url(self) -> str:
        kind = "pull" if self.reference in PULL_REQUESTS else "issues"
        return f"{NUMPY}/{kind}/{self.reference.lstrip('#')}"


@dataclasses.dataclass(frozen=True)
class Unseen:
    """A family case no rule of a lexical field-write checker is meant to see, and why."""

    name: str
    reference: str
    function: str
    why: str


MULTIARRAY = "numpy/_core/src/multiarray/"
UMATH = "numpy/_core/src/umath/"
PULL_REQUESTS = {"#27997", "#30234"}
_BUFFER_FIX = "127235fcd9b2e80764da8f6c64f942a6bddb093a"  # #30667: one commit for arrays and void scalars

CASES = (
    Case("np.repeat", "#28197", "cec8fbfbb8ad4fe3f5255336d35071adfe38c146", "2.2.2", "2.2.3",
         MULTIARRAY + "item_selection.c", "PyArray_Repeat", "index: PyArray_DIMS(aop)[axis] = ..."),
    Case("0-d out= given one dimension", "#27997", "ffa770f42bfd837b794383f4d06cb22e7729bc98", "2.2.6",
         "2.3.0", UMATH + "ufunc_object.c", "reducelike_promote_and_resolve",
         "field: ((PyArrayObject_fields *)out)->nd = 1"),
    Case(".flat recomputing flags", "#28042", "8dc4ff81a641c234bedd360a497fd99aec6ab18f", "2.2.1", "2.2.2",
         MULTIARRAY + "iterators.c", "PyArray_RawIterBaseInit", "flags: PyArray_UpdateFlags(ao, ...)"),
    # 2.2.2 replaced the write (94ac8eecd6), 2.2.3 brought back a conditional one, 2.2.4 has the final form.
    Case("the intp descriptor's byte order", "#28143", "2966a6d745b63e25222dcf55d3e1ffda89f1bd15", "2.2.1",
         "2.2.4", MULTIARRAY + "ctors.c", "PyArray_CheckFromAny_int",
         "byteorder: in_descr->byteorder = NPY_NATIVE"),
    Case("StringDType's lazy claim", "#28813", "71e2b9c10dd36bf90bd3d23b9a823198a31d90df", "2.2.5", "2.2.6",
         MULTIARRAY + "stringdtype/dtype.c", "stringdtype_finalize_descr",
         "lazy: if (sdtype->array_owned == 0) { sdtype->array_owned = 1; ..."),
    Case("the buffer-info cache (arrays)", "#30648", _BUFFER_FIX, "2.4.1", "2.4.2",
         MULTIARRAY + "buffer.c", "array_getbuffer",
         "handout: &((PyArrayObject_fields *)self)->_buffer_info, to a call that fills it"),
    Case("the buffer-info cache (void scalars)", "#30648", _BUFFER_FIX, "2.4.1", "2.4.2",
         MULTIARRAY + "buffer.c", "void_getbuffer",
         "handout: &scalar->_buffer_info, to a call that fills it"),
    # 2.4.0 is not among the pinned sdists: 2.3.0 has the plain store, 2.4.1 the atomic one.
    Case("a dtype's hash", "#30234", "68da3c3ef579e20c3d4e745abbe94e46f36c7a80", "2.3.0", "2.4.1",
         MULTIARRAY + "hashdescr.c", "PyArray_DescrHash",
         "lazy: if (descr->hash == -1) { ..., &descr->hash) ..."),
    Case("x.dtype = ... (the setter's helper)", "#28727", "", CURRENT_NUMPY, None,
         MULTIARRAY + "common.c", "_check_compatibility_with_new_dtype",
         "index: *newdims = PyArray_DIMS(self); (*newdims)[lastaxis] = ..."),
    Case("sort with order=", "no issue", "", CURRENT_NUMPY, None, MULTIARRAY + "methods.c", "array_sort",
         "field: ((PyArrayObject_fields *)self)->descr = newd"),
    Case("ufunc.at's values operand", "#30540", "", CURRENT_NUMPY, None, MULTIARRAY + "iterators.c",
         "PyArray_BroadcastToShape", "flags: PyArray_UpdateFlags(ao, ...)"),
    Case("flags.writeable = ...", "#30540", "", CURRENT_NUMPY, None, MULTIARRAY + "methods.c",
         "array_setflags", "flags: PyArray_ENABLEFLAGS/CLEARFLAGS(self, NPY_ARRAY_WRITEABLE)"),
)

UNSEEN = (
    Unseen("the reduction's initial value", "#28041", "get_initial_from_ufunc",
           "stores into a process-wide ArrayMethod reached through a parameter's field "
           "(context->method->...), with no test of the field it fills: no rule looks at such writes"),
    Unseen("casts added on first use", "#28048", "PyArray_GetCastingImpl",
           "the cache is a dict: PyDict_GetItemWithError, then PyDict_SetItem; the checker reads fields, "
           "not the contents of containers"),
)


# The checker's own verdicts, for what the ownership map does not list: writes to other structs (an
# nditer, an f2py object, a registration spec ...). Only SHARED counts as a real finding: a write to an
# object other threads can hold.
SHARED = "shared"
BUILDING = "being built"  # created in this function, or handed in by the function creating it
PRIVATE = "private"  # the caller's own struct
SETUP = "setup"  # registration and module setup, before other threads can reach the object
LOCKED = "locked by the caller"  # the callers hold a critical section the lexical scan does not see
CATEGORIES = {
    SHARED: "a write to an object other threads can hold",
    BUILDING: "an object this function, or its caller, has just made",
    PRIVATE: "a struct of the caller's own that no other thread reaches",
    SETUP: "registration or module setup, before other threads can reach the object",
    LOCKED: "a write whose callers hold a critical section",
}
_NDITER = (SHARED, "an `np.nditer`'s own fields, filled on first use: a race if threads share one iterator")

# Every (function, object) the checker flags on today's NumPy, with either rule set, that the ownership
# map does not list (a write of a field of an array or a dtype is judged there, once, and read from there:
# :func:`verdict_of`), judged by reading the function in the sdist. The build fails on a finding that has
# no judgement, and on a judgement here of a write the map lists.
JUDGEMENTS = {
    ("fortran_setattr", "fp"): (SHARED, "f2py: a Fortran object's attribute dict made on first setattr"),
    ("npyiter_cache_values", "self"): _NDITER,
    ("npyiter_iterrange_set", "self"): _NDITER,
    ("npyiter_reset", "self"): _NDITER,
    ("PyArray_MapIterNew", "mit"): (BUILDING, "the new fancy-indexing iterator"),
    ("fill_arraymethod_from_slots", "meth"): (BUILDING, "the ArrayMethod being filled from its spec"),
    ("PyArray_BufferConverter", "buf"): (PRIVATE, "the caller's PyArray_Chunk"),
    ("PyLong_Export", "export_long"): (PRIVATE, "the caller's struct (pythoncapi-compat)"),
    ("PyArrayMethod_FromSpec_int", "spec"): (SETUP, "a default name filled into the registration spec"),
    ("PyArray_RegisterDataType", "f"): (SETUP, "default functions filled into the ArrFuncs of a user dtype "
                                               "before it is registered"),
    ("PyUFunc_RegisterLoopForDescr", "current"): (SETUP, "registering a user loop"),
    ("PyUFunc_RegisterLoopForType", "ufunc"): (SETUP, "registering a user loop"),
    ("set_typeinfo", "arrfuncs"): (SETUP, "module setup"),
    ("_buffer_get_info", "old_info"): (LOCKED, "its callers hold a critical section since 2.4.2 (#30648)"),
}
# The checker's kinds that only ever write an array's or a dtype's own field (the dims and strides through
# their pointers, the array struct's fields, the flags, a descriptor's byte order): every such finding must
# be a write the map lists. "lazy" and "handout" fill a field of any struct.
METADATA_KINDS = frozenset({"index", "compound", "increment", "deref", "copy", "field", "flags", "byteorder"})


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Judged: by the ownership map (a write it lists), or by :data:`JUDGEMENTS` (one it does not)."""

    says: str  # the map's verdict ("mutate-then-restore", "made here" ...) or one of CATEGORIES
    shared: bool  # a real write to an object other threads can hold
    why: str
    by_map: bool


# ---------------------------------------------------------------- the runs


@dataclasses.dataclass(frozen=True)
class Corpus:
    """The cases, the judgements of today's findings, where each release's tree is, and today's release.

    *map_sites* gives the ownership map's writes in today's tree (paths relative to it): a finding on a
    line the map lists takes the map's verdict. None: no map, every finding is judged in *judgements*.
    """

    cases: tuple[Case, ...]
    judgements: dict[tuple[str, str], tuple[str, str]]
    tree: Callable[[str], Path]  # a release -> its unpacked sdist
    today: str
    map_sites: Callable[[], Iterable[ownership.Site]] | None = None


def _todays_map() -> tuple[ownership.Site, ...]:
    return ownership.sites(CURRENT_NUMPY)


NUMPY_CORPUS = Corpus(CASES, JUDGEMENTS, sdist_dir, CURRENT_NUMPY, _todays_map)


@cache
def _map_index(map_sites: Callable[[], Iterable[ownership.Site]]) -> dict[tuple[str, int], list]:
    """The map's writes by (path, line)."""
    index: dict[tuple[str, int], list[ownership.Site]] = {}
    for site in map_sites():
        index.setdefault((site.path, site.line), []).append(site)
    return index


def map_sites_of(finding: dict, corpus: Corpus = NUMPY_CORPUS) -> list[ownership.Site]:
    """The ownership map's writes on the finding's line, in its function; [] if the map lists none there."""
    if corpus.map_sites is None:
        return []
    root = corpus.tree(corpus.today)
    try:
        path = Path(finding["file"]).relative_to(root).as_posix()
    except ValueError:  # not in today's tree: an older release's file
        return []
    return [site for site in _map_index(corpus.map_sites).get((path, finding["line"]), ())
            if site.function == finding["function"]]


def verdict_of(finding: dict, corpus: Corpus = NUMPY_CORPUS) -> Verdict | None:
    """The finding's verdict: the map's, for a write it lists; else the checker's own; None: unjudged.

    On a line with several writes, a write the map does not judge safe decides.
    """
    sites = map_sites_of(finding, corpus)
    if sites:
        judgements = [ownership.judgement_of(site) for site in sites]
        if None in judgements:
            return None  # the map's own build fails on it
        racy = [j for j in judgements if j.verdict not in ownership.SAFE]
        judgement = (racy or judgements)[0]
        why = judgement.why if judgement is not ownership.BY_THE_SCAN else \
            f"the object was made at line {sites[0].made_at}, in the same function"
        return Verdict(judgement.verdict, bool(racy), why, by_map=True)
    own = corpus.judgements.get(judged_as(finding))
    return Verdict(own[0], own[0] == SHARED, own[1], by_map=False) if own else None


def corpus_runs(rules: str, corpus: Corpus = NUMPY_CORPUS) -> list[ExampleRun]:
    """The checker's runs the score needs, with *rules*: each release's case files, and today's whole tree."""
    files: dict[str, set[str]] = {}
    for case in corpus.cases:
        for version in filter(None, (case.before, case.after)):
            files.setdefault(version, set()).add(case.file)
    runs = [ExampleRun(CHECKER, (*(str(corpus.tree(version) / file) for file in sorted(paths)),
                                 "--rules", rules, "--json"), timeout=120)
            for version, paths in sorted(files.items())]
    runs.append(ExampleRun(CHECKER, (str(corpus.tree(corpus.today) / "numpy"), "--threads", "2",
                                     "--rules", rules, "--json"), timeout=240))
    return runs


def all_runs(corpus: Corpus = NUMPY_CORPUS) -> list[ExampleRun]:
    """Both rule sets' runs: the first version's, then today's."""
    return corpus_runs(FIRST_VERSION, corpus) + corpus_runs(ALL_RULES, corpus)


# ---------------------------------------------------------------- the score


@dataclasses.dataclass(frozen=True)
class Score:
    """How one rule set did: per case, flagged before and after the fix; today's flagged findings."""

    corpus: Corpus
    rules: str
    by_origin: bool
    flagged: dict[Case, tuple[bool, bool | None]]  # (before the fix, after it; None: no fix yet)
    today: list[dict]  # the flagged findings on today's whole tree

    @property
    def caught(self) -> list[Case]:
        """Cases flagged before the fix and not after it (for an open case: flagged today)."""
        return [case for case, (before, after) in self.flagged.items() if before and not after]

    @property
    def recall(self) -> float:
        return len(self.caught) / len(self.corpus.cases)

    @property
    def real(self) -> list[dict]:
        """Today's flagged findings judged real writes to a shared object (by the map, or here)."""
        return [f for f in self.today if (verdict := verdict_of(f, self.corpus)) and verdict.shared]

    @property
    def precision(self) -> float | None:
        return len(self.real) / len(self.today) if self.today else None

    @property
    def unjudged(self) -> list[tuple[str, str]]:
        """(function, object) of today's flagged findings that have no verdict, from the map or here."""
        return sorted({judged_as(f) for f in self.today if verdict_of(f, self.corpus) is None})

    @property
    def missed_by_the_map(self) -> list[dict]:
        """Today's findings of an array's or a dtype's own field on a line the ownership map does not list.

        The map is the inventory: a write of metadata the checker sees and the map does not is a hole in
        the map's scan (an out-parameter, a wrapped argument), to fix there, not to judge here.
        """
        if self.corpus.map_sites is None:
            return []
        return [f for f in self.today if f["kind"] in METADATA_KINDS and not map_sites_of(f, self.corpus)]


def judged_as(finding: dict) -> tuple[str, str]:
    return finding["function"], finding["object"]


# Where an object no other thread can hold yet comes from, in the checker's words.
NOT_SHARED_YET = {"created here", "on the stack"}


def counts(finding: dict, rules: str, by_origin: bool = True) -> bool:
    """Is *finding* flagged? All the first version's are; for all rules, none on an object made here.

    ``by_origin=False`` counts them all, to measure what telling them apart gains.
    """
    return rules == FIRST_VERSION or not by_origin or finding["target_origin"] not in NOT_SHARED_YET


def rules_of(outcome: Outcome) -> str:
    args = list(outcome.request.args)
    return args[args.index("--rules") + 1]


def score(outcomes: list[Outcome], rules: str, *, by_origin: bool = True,
          corpus: Corpus = NUMPY_CORPUS) -> Score:
    """Score the runs of :func:`corpus_runs` (*rules*) among *outcomes*; *by_origin* as for :func:`counts`."""
    mine = [outcome for outcome in outcomes if rules_of(outcome) == rules]
    for outcome in mine:
        summary = outcome.check()
        assert outcome.returncode == 0 and summary["passes"] == 1, (outcome.describe(), outcome.stderr[-999:])
    whole = str(corpus.tree(corpus.today) / "numpy")
    per_file = [f for o in mine if whole not in o.request.args for f in o.summary["findings"]]
    today = [f for o in mine if whole in o.request.args for f in o.summary["findings"]
             if counts(f, rules, by_origin)]

    def flagged(case: Case, version: str | None) -> bool | None:
        if version is None:
            return None
        path = str(corpus.tree(version) / case.file)
        return any(f["file"] == path and f["function"] == case.function and counts(f, rules, by_origin)
                   for f in per_file)

    seen = {case: (flagged(case, case.before), flagged(case, case.after)) for case in corpus.cases}
    return Score(corpus, rules, by_origin, seen, today)
