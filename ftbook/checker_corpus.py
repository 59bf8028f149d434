"""The checker's corpus and its score: recall on the family's fixes, precision on today's NumPy.

Every case is a write the family pages describe, read in the released
sdists the book pins (``ftbook.provision.sources``): the release before the
fix has it, the release with the fix does not, or, for a case still open,
today's release has it. Each was checked by diffing the file between the
two releases in the sdists and finding the fix commit in numpy/numpy's
history. :func:`score` runs ``examples/find_metadata_writes.py`` on those
trees (once with ``--rules pointers``, the first version's rules, once with
all of them) and judges every finding on today's whole ``numpy`` folder
with :data:`JUDGEMENTS`.

What counts as "flagged": for the first version's rules, any finding (it
cannot tell a fresh array from a shared one, so the reader must read them
all); for all rules, any finding whose ``target_origin`` is neither "created
here" nor "on the stack" (objects the function made itself: set aside).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

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


# Verdicts. Only SHARED counts as a real finding: a write to an object other threads can hold.
SHARED = "shared"
BUILDING = "being built"  # created in this function, or handed in by the function creating it
PRIVATE = "private"  # a dummy array on the stack, the caller's own struct, an object being freed
SETUP = "setup"  # registration and module setup, before other threads can reach the object
CALLERS = "the caller's"  # a helper that writes what it is given: shared only if its caller's is
LOCKED = "locked by the caller"  # the callers hold a critical section the lexical scan does not see

_SORT = (SHARED, "`order=`: the array's `descr` swapped and restored (the restore page)")
_WRITEBACK = (SHARED, "by design: WRITEBACKIFCOPY's base is the caller's array (the flags page)")
_TEMPORARY = (PRIVATE, "the temporary copy WRITEBACKIFCOPY writes back from")
_DUMMY = (PRIVATE, "a dummy array on the stack")
_FILLING = (BUILDING, "a new array's nd and descr set and restored while filling it")
_FLAG_HELPER = (CALLERS, "the flag updater itself: shared when its caller's array is (#28042, #30540)")
_NDITER = (SHARED, "an `np.nditer`'s own fields, filled on first use: a race if threads share one iterator")

# Every (function, object) the checker flags on today's NumPy, with either rule set, judged by
# reading the function in the sdist. The build fails on a finding that has no judgement here.
JUDGEMENTS = {
    ("PyArray_FromInterface", "ret"): (BUILDING, "a new array, not shared yet"),
    ("array_from_text", "r"): (BUILDING, "a new array, not shared yet"),
    ("PyArray_Transpose", "ret"): (BUILDING, "a new array, not shared yet"),
    ("array_shape_set_internal", "self"): (SHARED, "the `shape` setter: deprecated in 2.5, still racy"),
    ("array_strides_set", "self"): (SHARED, "the `strides` setter: deprecated in 2.4, still racy"),
    ("PyArray_Resize_int", "self"): (SHARED, "`resize` in place; also used on arrays being built "
                                             "(`fromiter`, `loadtxt`)"),
    ("array_setstate", "self"): (SHARED, "`__setstate__`: rewrites an existing array"),
    ("array_setstate", "fa"): (SHARED, "`__setstate__`: rewrites an existing array"),
    ("_check_compatibility_with_new_dtype", "self"): (SHARED, "the `dtype` setter's in-place write (#28727), "
                                                              "through an out-parameter"),
    ("array_descr_set_internal", "self"): (SHARED, "the `dtype` setter (#28727): deprecated in 2.5"),
    ("array_sort", "self"): _SORT,
    ("array_argsort", "self"): _SORT,
    ("array_partition", "self"): _SORT,
    ("array_argpartition", "self"): _SORT,
    ("PyArray_BroadcastToShape", "ao"): (SHARED, "#30540: `ufunc.at`'s `values` operand"),
    ("array_setflags", "self"): (SHARED, "`setflags`, `flags.writeable = ...` (#30540)"),
    ("array_setflags", "fa"): (SHARED, "`setflags`, `flags.writeable = ...` (#30540)"),
    ("arrayflags_warn_on_write_set", "self->arr"): (SHARED, "a flags object's setter writes its array's"),
    ("array_might_be_written", "obj"): (SHARED, "clears `WARN_ON_WRITE` on the caller's array"),
    ("PyArray_One", "arr"): (SHARED, "the caller's flags set and restored around a setitem "
                                     "(the neighborhood iterator's array)"),
    ("PyArray_Zero", "arr"): (SHARED, "the caller's flags set and restored around a setitem "
                                      "(the neighborhood iterator's array)"),
    ("_set_constant", "ar->ao"): (SHARED, "`a.flat[...] = v`: the iterated array's flags set and restored"),
    ("arraydescr_setstate", "self"): (SHARED, "a dtype's `__setstate__` rewrites an existing descriptor"),
    ("fortran_setattr", "fp"): (SHARED, "f2py: a Fortran object's attribute dict made on first setattr"),
    ("npyiter_cache_values", "self"): _NDITER,
    ("npyiter_iterrange_set", "self"): _NDITER,
    ("npyiter_reset", "self"): _NDITER,
    ("PyArray_DiscardWritebackIfCopy", "fa->base"): _WRITEBACK,
    ("PyArray_ResolveWritebackIfCopy", "fa->base"): _WRITEBACK,
    ("PyArray_SetWritebackIfCopyBase", "base"): _WRITEBACK,
    ("PyArray_DiscardWritebackIfCopy", "arr"): _TEMPORARY,
    ("PyArray_DiscardWritebackIfCopy", "fa"): _TEMPORARY,
    ("PyArray_ResolveWritebackIfCopy", "fa"): _TEMPORARY,
    ("PyArray_ResolveWritebackIfCopy", "self"): _TEMPORARY,
    ("PyArray_SetWritebackIfCopyBase", "arr"): _TEMPORARY,
    ("PyArray_UpdateFlags", "ret"): _FLAG_HELPER,
    ("_UpdateContiguousFlags", "ap"): _FLAG_HELPER,
    ("PyArray_RemoveAxesInPlace", "arr"): (CALLERS, "used on the reduction results NumPy just made"),
    ("PyArray_RemoveAxesInPlace", "fa"): (CALLERS, "used on the reduction results NumPy just made"),
    ("array_scalar", "typecode"): (CALLERS, "an unsized dtype given to the unpickling helper gets elsize 1"),
    ("PyArray_SetBaseObject", "arr"): (BUILDING, "documented for arrays being built"),
    ("PyArray_MapIterNew", "mit"): (BUILDING, "the new fancy-indexing iterator"),
    ("_PyArray_LegacyDescrNewFromPrototype", "descr"): (BUILDING, "a descriptor allocated a few lines above"),
    ("_array_fromobject_generic", "ret"): (BUILDING, "a copy made in that branch (PyArray_NewCopy)"),
    ("_convert_from_str", "ret"): (BUILDING, "a descriptor parsed from the string a few lines above"),
    ("_get_part", "ret"): (BUILDING, "the result of the ufunc call just made"),
    ("array_converter_new", "item->array"): (BUILDING, "the temporary array made from a Python scalar"),
    ("fill_arraymethod_from_slots", "meth"): (BUILDING, "the ArrayMethod being filled from its spec"),
    ("read_rows", "data_array"): (BUILDING, "the array `loadtxt` is filling"),
    ("VOID_copyswapn", "dummy_arr"): _DUMMY,
    ("VOID_getitem", "dummy_arr"): _DUMMY,
    ("VOID_nonzero", "dummy_arr"): _DUMMY,
    ("_setup_field", "arr"): (PRIVATE, "the dummy array its callers pass"),
    ("py_resolve_dtypes_generic", "dummy_arrays"): (BUILDING, "0-d arrays made a few lines above"),
    ("PyArray_BufferConverter", "buf"): (PRIVATE, "the caller's PyArray_Chunk"),
    ("PyLong_Export", "export_long"): (PRIVATE, "the caller's struct (pythoncapi-compat)"),
    ("_clear_array_attributes", "fa"): (PRIVATE, "the array being freed"),
    ("PyArrayMethod_FromSpec_int", "spec"): (SETUP, "a default name filled into the registration spec"),
    ("PyArray_RegisterDataType", "f"): (SETUP, "registering a user dtype"),
    ("PyUFunc_RegisterLoopForDescr", "current"): (SETUP, "registering a user loop"),
    ("PyUFunc_RegisterLoopForType", "ufunc"): (SETUP, "registering a user loop"),
    ("set_typeinfo", "arrfuncs"): (SETUP, "module setup"),
    ("_multiarray_umath_exec", "npy_static_pydata"): (SETUP, "module setup"),
    ("_buffer_get_info", "old_info"): (LOCKED, "its callers hold a critical section since 2.4.2 (#30648)"),
    # What all rules set aside (created here, on the stack): judged too, to measure what that gains.
    ("PyArray_NewFromDescr_int", "fa"): (BUILDING, "the constructor itself: the array it allocates"),
    ("PyArray_FromAny_int", "ret"): _FILLING,
    ("PyArray_FromArray", "ret"): _FILLING,
    ("array_astype", "ret"): (BUILDING, "a new array's descr set and restored while filling it"),
    ("PyArray_ArangeObj", "range"): (BUILDING, "the new range, its dtype replaced after an in-place swap"),
    ("PyArray_ConcatenateArrays", "sliding_view"): (BUILDING, "a view made to walk the result"),
    ("PyArray_ConcatenateFlattenedArrays", "sliding_view"): (BUILDING, "a view made to walk the result"),
    ("PyArray_Diagonal", "ret"): (BUILDING, "the new view, made read-only"),
    ("PyArray_FromBuffer", "ret"): (BUILDING, "a new array, not shared yet"),
    ("array_imag_get", "ret"): (BUILDING, "the new view, made read-only"),
    ("iter_array", "ret"): (BUILDING, "a new array, not shared yet"),
    ("PyArray_DescrNewByteorder", "new"): (BUILDING, "the new descriptor it returns"),
    ("arraydescr_new", "descr"): (BUILDING, "the new descriptor it returns"),
    ("_convert_from_dict", "new"): (BUILDING, "the new descriptor it returns"),
    ("array_setstate", "swapped"): (BUILDING, "a byte-swapped copy of a descriptor, made here"),
}


# ---------------------------------------------------------------- the runs


@dataclasses.dataclass(frozen=True)
class Corpus:
    """The cases, the judgements of today's findings, where each release's tree is, and today's release."""

    cases: tuple[Case, ...]
    judgements: dict[tuple[str, str], tuple[str, str]]
    tree: Callable[[str], Path]  # a release -> its unpacked sdist
    today: str


NUMPY_CORPUS = Corpus(CASES, JUDGEMENTS, sdist_dir, CURRENT_NUMPY)


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
        """Today's flagged findings judged real writes to a shared object."""
        return [f for f in self.today if self.corpus.judgements.get(judged_as(f), ("",))[0] == SHARED]

    @property
    def precision(self) -> float | None:
        return len(self.real) / len(self.today) if self.today else None

    @property
    def unjudged(self) -> list[tuple[str, str]]:
        """(function, object) of today's flagged findings that have no judgement."""
        return sorted({judged_as(f) for f in self.today} - set(self.corpus.judgements))


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
