"""ftbook.ownership: the metadata ownership map, on small fake sources (and once on today's sdist).

The chapter (docs/chapters/ownership.md) asserts what the real sources give;
these tests check the scan and the judgements on C small enough to read:
what counts as a write, what does not, when an object is made in the
function, how synchronisation is read, and that a writer nobody judged stops
the build with a message naming it.
"""

from types import SimpleNamespace

import pytest

from ftbook import levels, ownership

# The struct definitions the scan reads its fields from, cut down to what the tests write.
HEADER = """\
typedef struct tagPyArrayObject_fields {
    PyObject_HEAD
    char *data;
    int nd;
    npy_intp *dimensions;
    npy_intp *strides;
    PyObject *base;
    PyArray_Descr *descr;
    int flags;
    void *_buffer_info;  /* private buffer info, tagged to allow warning */
} PyArrayObject_fields;

#ifndef Py_TARGET_ABI3T
typedef struct _PyArray_Descr {
        PyObject_HEAD
#else
typedef struct _PyArray_Descr_fields {
#endif
        char byteorder;
        npy_intp elsize;
        npy_hash_t hash;
} PyArray_Descr_fields;

typedef struct {
        PyObject_HEAD
        char byteorder;
        npy_intp elsize;
        npy_hash_t hash;
        PyObject *names;
} _PyArray_LegacyDescr_fields;
"""

WRITES = """\
/* ((PyArrayObject_fields *)a)->nd = 0;  a comment is not a write */
static int
shared_writes(PyArrayObject *a, PyArray_Descr *d)
{
    const char *text = "((PyArrayObject_fields *)a)->nd = 1;";  /* nor is a string */
    if (((PyArrayObject_fields *)a)->nd == 2 || (PyArray_FLAGS(a) & 1)) {  /* reads */
        return 0;
    }
    ((PyArrayObject_fields *)a)->nd = 1;
    PyArray_DIMS(a)[0] = 5;
    memcpy(PyArray_STRIDES(a), text, 8);
    PyArray_ENABLEFLAGS(a, 1);
    d->byteorder = '=';
    PyArray_DESCR(a)->elsize += 1;
    return 0;
}

static int
made_here(PyArray_Descr *given)
{
    PyArrayObject *ret = (PyArrayObject *)PyArray_NewFromDescr(&PyArray_Type, given, 0, NULL,
                                                              NULL, NULL, 0, NULL);
    ((PyArrayObject_fields *)ret)->nd = 0;
    PyArray_DESCR_REPLACE(given);
    given->byteorder = '<';
    PyArrayObject_fields dummy_fields;
    PyArrayObject *dummy = (PyArrayObject *)&dummy_fields;
    PyArray_CLEARFLAGS(dummy, 2);
    return 0;
}

static int
synchronised(PyObject *self, PyArray_Descr *d)
{
    Py_BEGIN_CRITICAL_SECTION(self);
    fill_cache(&((PyArrayObject_fields *)self)->_buffer_info);
    Py_END_CRITICAL_SECTION();
    atomic_store_explicit((_Atomic(npy_hash_t) *)&d->hash, 7, memory_order_relaxed);
    return 0;
}

static int
through_pointers(PyArrayObject *a, PyArrayObject *b, npy_intp **newdims)
{
    PyArrayObject_fields *fa = (PyArrayObject_fields *)a;
    npy_intp *shape = fa->dimensions, *strides = fa->strides;
    npy_intp local[4];
    shape[0] = 1;
    strides[0] *= 2;
    local[0] = 2;
    *newdims = PyArray_DIMS(b);
    (*newdims)[0] = 3;
    shape = local;
    shape[1] = 4;
    PyArray_ENABLEFLAGS(((PyArrayObject *)fa->base), 1);
    return 0;
}
"""


@pytest.fixture
def fake_release(tmp_path, monkeypatch):
    """A NumPy "release" 0.0.1 in a cache of its own: the header above and one C file of writes."""
    monkeypatch.setenv("FTBOOK_CACHE", str(tmp_path))
    root = tmp_path / "sources" / "numpy-0.0.1"
    (root / ownership.HEADER).parent.mkdir(parents=True)
    (root / ownership.HEADER).write_text(HEADER)
    source = root / "numpy/_core/src/multiarray/writes.c"
    source.parent.mkdir(parents=True)
    source.write_text(WRITES)
    cached = (ownership.sites, ownership.struct_fields, ownership.fields_written)
    for function in cached:
        function.cache_clear()
    yield "0.0.1"
    for function in cached:
        function.cache_clear()


def found(version, function):
    return [(site.owner, site.field, site.how, site.made_at is not None, site.synchronised)
            for site in ownership.sites(version) if site.function == function]


def test_the_fields_are_read_from_the_header_whichever_branch_opens_the_struct(fake_release):
    fields = ownership.struct_fields(fake_release)
    assert fields["PyArrayObject_fields"] == ("data", "nd", "dimensions", "strides", "base", "descr", "flags",
                                              "_buffer_info")
    assert fields["PyArray_Descr"] == ("byteorder", "elsize", "hash")
    assert ownership.fields_of("dtype", fake_release) == ("byteorder", "elsize", "hash", "names")


def test_each_kind_of_write_is_found_and_reads_comments_and_strings_are_not(fake_release):
    assert found(fake_release, "shared_writes") == [
        ("array", "nd", "assignment", False, "none"),
        ("array", "dimensions", "element through PyArray_DIMS", False, "none"),
        ("array", "strides", "copy into PyArray_STRIDES", False, "none"),
        ("array", "flags", "call of PyArray_ENABLEFLAGS", False, "none"),
        ("dtype", "byteorder", "assignment", False, "none"),
        ("dtype", "elsize", "assignment", False, "none"),
    ]


def test_an_object_made_in_the_function_is_told_apart(fake_release):
    # A new array, a copied descriptor (the copy-modify fix), a struct on the stack.
    assert found(fake_release, "made_here") == [
        ("array", "nd", "assignment", True, "none"),
        ("dtype", "byteorder", "assignment", True, "none"),
        ("array", "flags", "call of PyArray_CLEARFLAGS", True, "none"),
    ]


def test_synchronisation_is_read_from_the_code_around_the_write(fake_release):
    assert found(fake_release, "synchronised") == [
        ("array", "_buffer_info", "address handed on", False, "critical section"),
        ("dtype", "hash", "atomic store", False, "atomic"),
    ]


def test_writes_through_a_pointer_to_the_dims_an_out_parameter_and_a_wrapped_argument(fake_release):
    # shape and strides point into a's dims (a declaration with two names); *newdims into b's; a local
    # array is not metadata, and shape reassigned to it no longer points into a; ((T *)x) is unwrapped.
    assert found(fake_release, "through_pointers") == [
        ("array", "dimensions", "element through a pointer from ->dimensions", False, "none"),
        ("array", "strides", "element through a pointer from ->strides", False, "none"),
        ("array", "dimensions", "element through an out-parameter from PyArray_DIMS", False, "none"),
        ("array", "flags", "call of PyArray_ENABLEFLAGS", False, "none"),
    ]
    objects = [site.obj for site in ownership.sites(fake_release) if site.function == "through_pointers"]
    assert objects == ["fa", "fa", "b", "fa->base"]


def test_a_function_judged_object_by_object(fake_release, monkeypatch):
    """WRITEBACKIFCOPY's functions write the caller's array and their own scratch copy: one verdict each."""
    judge = ownership._judge
    judged = (judge("shared flag update", "array.flags", objects=("fa->base",), why="the original"),
              judge("new object", "array.dimensions", "array.strides", objects=("fa",), why="the copy"),
              judge("new object", "array.dimensions", objects=("gone",), why="no such write"))
    monkeypatch.setattr(ownership, "JUDGEMENTS", {"through_pointers": judged})
    verdicts = {(site.obj, site.field): ownership.judgement_of(site).verdict if ownership.judgement_of(site)
                else None for site in ownership.sites(fake_release) if site.function == "through_pointers"}
    assert verdicts == {("fa", "dimensions"): "new object", ("fa", "strides"): "new object",
                        ("b", "dimensions"): None, ("fa->base", "flags"): "shared flag update"}
    assert ownership.stale_judgements(fake_release) == ["through_pointers: array.dimensions of gone"]


def test_a_writer_nobody_judged_stops_the_build_with_its_name(fake_release):
    with pytest.raises(AssertionError, match=r"writes\.c:\d+ shared_writes: array\.nd") as raised:
        ownership.assert_every_write_judged(fake_release)
    assert "add it to ftbook.ownership.JUDGEMENTS" in str(raised.value)
    made = [site for site in ownership.sites(fake_release) if site.function == "made_here"]
    assert all(ownership.judgement_of(site) is ownership.BY_THE_SCAN for site in made)


def test_what_a_function_writes_on_objects_it_did_not_make_is_what_the_levels_page_takes(fake_release):
    path = "numpy/_core/src/multiarray/writes.c"
    written = ownership.fields_written(fake_release)
    assert written[path, "shared_writes"] == ("array.nd", "array.dimensions", "array.strides", "array.flags",
                                              "dtype.byteorder", "dtype.elsize")
    assert (path, "made_here") not in written  # it writes only what it made
    line = next(n for n, text in enumerate(WRITES.splitlines(), start=1)
                if text.strip() == "((PyArrayObject_fields *)a)->nd = 1;")
    assert ownership.function_at(path, line, fake_release) == "shared_writes"
    assert ownership.function_at(path, 1, fake_release) is None  # a comment

    def writer(function):
        return SimpleNamespace(what=f"w {function}", function=function, lines=SimpleNamespace(path=path))

    missing = ownership.writers_missing_from_the_map([writer("shared_writes"), writer("gone")], fake_release)
    assert missing == [f"w gone: the map finds no write in gone ({path})"]


def test_a_judged_function_writing_a_new_field_is_unjudged():
    site = ownership.Site("numpy/x.c", 1, "array_sort", "array", "nd", "self", "assignment", "", "none", None)
    assert ownership.judgement_of(site) is None  # array_sort is judged for descr only
    assert ownership.judgement_of(ownership.Site(**{**vars(site), "field": "descr"})).verdict == \
        "mutate-then-restore"


def test_an_else_branch_that_opens_a_brace_again_does_not_swallow_the_file():
    code = ownership._code_only("#if A\nstruct x {\n#else\nstruct y {\n#endif\n int a; };\n"
                                "static int f(void)\n{\n return 0;\n}\n")
    assert [name for name, *_ in ownership.functions(ownership._first_branches(code))] == ["f"]


@pytest.mark.needs_envs("sources")
def test_todays_release_is_judged_throughout_and_agrees_with_the_levels_page():
    ownership.assert_every_write_judged()
    assert ownership.writers_missing_from_the_map(levels.WRITERS) == []


def test_the_pages_the_map_names_as_linking_to_it_are_those_that_do(tmp_path):
    """The map's first paragraph names the pages that link to it; they are read from the book's sources."""
    import posixpath
    import re
    from pathlib import Path

    docs = Path(__file__).resolve().parent.parent / "docs"
    first = (docs / "chapters/ownership.md").read_text().split("instead of keeping a list of their own")[1]
    named = {posixpath.normpath(f"chapters/{target}")
             for target in re.findall(r"\{doc\}`([^`]+)`", first.split("):")[0])}
    assert named == set(ownership.pages_linking_to("chapters/ownership", docs))
    # How a link is resolved: from the page's folder, from the root with "/", with a title or without.
    (tmp_path / "chapters" / "family").mkdir(parents=True)
    (tmp_path / "chapters" / "family" / "a.md").write_text("see {doc}`the map <../ownership>`")
    (tmp_path / "chapters" / "b.md").write_text("see {doc}`ownership` and {doc}`ownership`")
    (tmp_path / "c.md").write_text("see {doc}`/chapters/ownership`")
    (tmp_path / "d.md").write_text("see {doc}`ownership`")  # docs/ownership: another page
    (tmp_path / "_build").mkdir()
    (tmp_path / "_build" / "e.md").write_text("{doc}`/chapters/ownership`")
    linking = ownership.pages_linking_to("chapters/ownership", tmp_path)
    assert linking == ["c", "chapters/b", "chapters/family/a"]


def test_the_whole_map_downloads_as_csv_one_write_a_row(fake_release, monkeypatch):
    import csv

    from ftbook.tables import download_link

    monkeypatch.setattr(ownership, "JUDGEMENTS", {})
    rows = list(csv.DictReader(ownership.csv_text(fake_release).splitlines()))
    assert len(rows) == len(ownership.sites(fake_release)) and tuple(rows[0]) == ownership.CSV_COLUMNS
    made = next(row for row in rows if row["function"] == "made_here")
    assert made["verdict"] == ownership.MADE_HERE and made["safe"] == "yes" and made["made_at"]
    shared = next(row for row in rows if row["function"] == "shared_writes")
    assert shared["verdict"] == "unjudged" and shared["safe"] == "no" and "#L" in shared["url"]
    link = download_link("a,b\n1,2\n", "map.csv", mime="text/csv").data
    assert 'download="map.csv"' in link and "data:text/csv;charset=utf-8;base64," in link
    assert link.endswith("(2 lines)")
