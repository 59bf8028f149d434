"""ftbook.levels: NumPy's metadata API placed in CPython's levels, from (here: small fake) sources.

The chapter (docs/chapters/api-levels.md) asserts what the real sources
give; these tests check the machinery on sources small enough to read:
that each rule follows from the writers, that a missing writer makes a
level unknown instead of a guess, and that a changed source stops the build.
"""

import pytest

from ftbook import levels, ownership, quote
from ftbook.provision.interpreters import cpython_tarball_urls

HEADER = """\
static inline int
PyArray_NDIM(const PyArrayObject *arr)
{
    return _PyArray_GET_ITEM_DATA(arr)->nd;
}

static inline npy_intp *
PyArray_DIMS(const PyArrayObject *arr)
{
    return _PyArray_GET_ITEM_DATA(arr)->dimensions;
}

#define PyArray_ISFOO(m) (PyArray_CHKFLAGS(m, 1) || \\
                          PyArray_CHKFLAGS(m, 2))

static inline int
PyArray_CHKFLAGS(const PyArrayObject *arr, int flags)
{
    return (PyArray_FLAGS(arr) & flags) == flags;
}

static inline int
PyArray_FLAGS(const PyArrayObject *arr)
{
    return _PyArray_GET_ITEM_DATA(arr)->flags;
}

static inline void
PyArray_ENABLEFLAGS(PyArrayObject *arr, int flags)
{
    _PyArray_GET_ITEM_DATA(arr)->flags |= flags;
}

#if NPY_FEATURE_VERSION >= NPY_1_22_API_VERSION
    static inline NPY_RETURNS_BORROWED_REF PyObject *
    PyArray_HANDLER(PyArrayObject *arr)
    {
        return _PyArray_GET_ITEM_DATA(arr)->mem_handler;
    }
#endif
"""

HEADINGS = ("Incompatible", "Compatible", "Safe on distinct objects", "Safe on shared objects", "Atomic")
COMPAT = """\
    static inline void
    PyDataType_SET_ELSIZE(PyArray_Descr *dtype, npy_intp size)
    {
        _PyDataType_GET_ITEM_DATA(dtype)->elsize = size;
    }
#else
    static inline void
    PyDataType_SET_ELSIZE(PyArray_Descr *dtype, npy_intp size)
    {
        ((PyArray_DescrProto *)dtype)->elsize = size;
    }
#endif
DESCR_ACCESSOR(NAMES, names, PyObject *, 1)
DESCR_ACCESSOR(KIND, kind, char, 0)
"""
LEVELS_RST = ".. _threadsafety-levels:\n\nThread safety levels\n====================\n\n" + "".join(
    f".. _threadsafety-level-{level}:\n\n{heading}\n{'-' * len(heading)}\n\n"
    f"A function that is safe as :term:`{level} <glossary {level}>` says.\n\n"
    for level, heading in zip(levels.LEVELS, HEADINGS, strict=True)) + ".. _thread-safety-list:\n"

DAT = """\
# Getters - read struct fields
PyCapsule_GetPointer:distinct:
PyCapsule_GetName:shared:
"""

# The writers the fake sources' readers are placed by, and what the ownership map finds each writing:
# a writer lists no fields of its own, it takes the map's.
SETTERS = "numpy/_core/src/multiarray/getset.c"
WRITERS = (
    levels.Writer("the .shape setter", levels.Lines(SETTERS, "shape_set", "free"), frees=True),
    levels.Writer("a flag setter", levels.Lines(SETTERS, "flags_set", "flags"), frees=False),
    levels.Writer("the dtype's .names setter", levels.Lines(SETTERS, "names_set", "names"), frees=True),
)
MAP = {(SETTERS, "shape_set"): ("array.nd", "array.dimensions", "array.strides", "array.flags"),
       (SETTERS, "flags_set"): ("array.flags",),
       (SETTERS, "names_set"): ("dtype.names", "dtype.fields")}


@pytest.fixture(autouse=True)
def fake_sources(tmp_path, monkeypatch):
    numpy = tmp_path / "numpy"
    (numpy / levels.HEADER).parent.mkdir(parents=True)
    (numpy / levels.HEADER).write_text(HEADER)
    (numpy / levels.COMPAT_HEADER).write_text(COMPAT)
    cpython = tmp_path / "cpython"
    (cpython / "Doc/library").mkdir(parents=True)
    (cpython / "Doc/data").mkdir(parents=True)
    (cpython / levels.LEVELS_DOC).write_text(LEVELS_RST)
    (cpython / levels.LEVELS_DAT).write_text(DAT)
    monkeypatch.setattr(quote, "numpy_sdist", lambda version, log=None: numpy)
    monkeypatch.setattr(quote, "cpython_source", lambda version, log=None: cpython)
    monkeypatch.setattr(levels, "WRITERS", WRITERS)
    monkeypatch.setattr(ownership, "fields_written", lambda version=None: MAP)
    cached = (levels.accessors, levels.descriptor_accessors, levels.cpython_annotations)
    for function in cached:
        function.cache_clear()
    yield
    for function in cached:
        function.cache_clear()


def test_accessors_are_read_from_the_header_and_placed_by_the_writers():
    placed = {op.name: op for op in levels.accessors()}
    # A pointer into the dims, which the .shape setter frees: compatible, as a borrowed list item is.
    assert placed["PyArray_DIMS"].level == "compatible" and placed["PyArray_DIMS"].rule == "borrowed"
    # A plain read of a field that a writer writes: distinct, as CPython's capsule getters are.
    assert placed["PyArray_NDIM"].level == "distinct" and placed["PyArray_NDIM"].rule == "reads"
    # One accessor reading through another inherits its fields.
    assert placed["PyArray_CHKFLAGS"].fields == ("flags",) and placed["PyArray_CHKFLAGS"].level == "distinct"
    assert placed["PyArray_ENABLEFLAGS"].rule == "writes"
    # An indented definition is found too, and a field with no known writer gives no level at all.
    assert placed["PyArray_HANDLER"].level == levels.UNKNOWN and placed["PyArray_HANDLER"].rule is None


def test_a_writers_fields_are_the_ownership_maps(monkeypatch):
    assert WRITERS[0].fields == ("nd", "dimensions", "strides", "flags")  # an array's fields by their name
    assert WRITERS[2].fields == ("dtype.names", "dtype.fields")
    # Once the map finds a freeing writer writing the memory handler too (as __setstate__ drops it), the
    # borrowed PyArray_HANDLER is compatible: no list of fields in levels had to be edited.
    setstate = levels.Writer("a setstate", WRITERS[1].lines, frees=True)
    monkeypatch.setattr(levels, "WRITERS", (WRITERS[0], setstate))
    handler_too = {(SETTERS, "flags_set"): ("array.flags", "array.mem_handler")}
    monkeypatch.setattr(ownership, "fields_written", lambda version=None: MAP | handler_too)
    handler = next(op for op in levels.accessors() if op.name == "PyArray_HANDLER")
    assert handler.level == "compatible" and [w.what for w in handler.evidence()] == ["a setstate"]


def test_a_dtypes_accessors_come_from_the_compat_header_first_definition_first():
    placed = {op.name: op for op in levels.descriptor_accessors()}
    assert set(placed) == {"PyDataType_SET_ELSIZE", "PyDataType_NAMES", "PyDataType_KIND"}
    set_elsize = placed["PyDataType_SET_ELSIZE"]
    assert set_elsize.rule == "writes" and set_elsize.lines[0].quote().start == 2  # the first of two
    # The .names setter frees the old names: a borrowed pointer to them is compatible.
    names = placed["PyDataType_NAMES"]
    assert names.fields == ("dtype.names",) and names.level == "compatible"
    assert placed["PyDataType_KIND"].level == levels.UNKNOWN  # nothing on the list writes a dtype's kind


def test_an_accessor_links_its_definition_not_a_macro_that_calls_it():
    chkflags = next(op for op in levels.accessors() if op.name == "PyArray_CHKFLAGS")
    assert chkflags.lines[0].quote().start == HEADER.splitlines().index(
        "PyArray_CHKFLAGS(const PyArrayObject *arr, int flags)") + 1


def test_a_borrowed_pointer_nobody_frees_is_only_a_read(monkeypatch):
    flip = levels.Writer("a flag flipper", levels.Lines("x.c", "f", "x"), frees=False)
    monkeypatch.setattr(levels, "WRITERS", (flip,))
    monkeypatch.setattr(ownership, "fields_written", lambda version=None: {("x.c", "f"): ("array.flags",)})
    pointer = levels.placed("X", python=False, wants="borrowed", fields=("flags",))
    assert pointer.rule == "reads" and pointer.level == "distinct" and pointer.evidence() == [flip]
    nobody = levels.placed("Y", python=False, wants="borrowed", fields=("dimensions",))
    assert nobody.level == levels.UNKNOWN and nobody.evidence() == []


def test_a_rule_whose_precedent_cpython_annotates_otherwise_stops_the_build():
    agreeing = levels.Rule("reads", "distinct", "reads", ("PyCapsule_GetPointer",))
    assert [a.why for a in agreeing.check()] == [("Getters - read struct fields",)]
    with pytest.raises(quote.QuoteError, match="annotates PyCapsule_GetName as shared"):
        levels.Rule("reads", "distinct", "reads", ("PyCapsule_GetName",)).check()
    with pytest.raises(quote.QuoteError, match="not in CPython"):
        levels.Rule("reads", "distinct", "reads", ("PyNothing",)).check()


def test_levels_are_cut_from_cpythons_text_with_their_headings():
    distinct = levels.level_definition("distinct")
    assert distinct.lines[0] == ".. _threadsafety-level-distinct:" and distinct.lines[-1].endswith("says.")
    table = levels.definitions_table()
    assert "**Safe on distinct objects**" in table
    assert "safe as distinct says" in table  # the role reduced to its text
    assert table.index("`incompatible`") < table.index("`atomic`")


def test_a_level_cpython_no_longer_defines_stops_the_build(tmp_path):
    rst = tmp_path / "cpython" / levels.LEVELS_DOC
    rst.write_text(rst.read_text().replace(".. _threadsafety-level-atomic:", ""))
    with pytest.raises(quote.QuoteError, match="threadsafety-level-atomic"):
        levels.definitions_table()


def test_the_download_comments_out_what_cpythons_format_cannot_say():
    rows = [*levels.accessors(), levels.placed("a.shape = s", python=True, wants="writes", fields=("nd",))]
    text = levels.dat_text(rows)
    assert "\nPyArray_DIMS:compatible:\n" in text and "\nPyArray_NDIM:distinct:\n" in text
    assert "\n# PyArray_HANDLER:unknown:\n" in text  # not a level CPython's reader accepts
    assert "\n#   a.shape = s: distinct" in text  # a Python expression is not a C identifier
    entries = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert all(line.count(":") == 2 and line.split(":")[1] in levels.LEVELS for line in entries)


def test_a_line_that_is_gone_stops_the_build():
    with pytest.raises(quote.QuoteError, match="starts with"):
        levels.Lines(levels.HEADER, None, "PyArray_GONE(").quote()


def test_cpython_tarballs_of_a_release_candidate():
    final = cpython_tarball_urls("3.14.7", ["http://deb.example/debian/"])
    assert final == ["https://www.python.org/ftp/python/3.14.7/Python-3.14.7.tar.xz",
                     "http://deb.example/debian/pool/main/p/python3.14/python3.14_3.14.7.orig.tar.xz"]
    candidate = cpython_tarball_urls("3.15.0rc2", ["http://deb.example/debian"])
    assert candidate == ["https://www.python.org/ftp/python/3.15.0/Python-3.15.0rc2.tar.xz",
                         "http://deb.example/debian/pool/main/p/python3.15/python3.15_3.15.0~rc2.orig.tar.xz"]


def test_a_c_api_writer_missing_from_the_table_stops_the_build(tmp_path, monkeypatch):
    api = tmp_path / "numpy" / levels.API_LIST
    api.parent.mkdir(parents=True)
    api.write_text("multiarray_funcs_api = {\n    'PyArray_Zero': (47,),\n    'PyArray_Dead': (48,),\n}\n")

    def site(function, field, path="numpy/_core/src/multiarray/x.c", made_at=None):
        return ownership.Site(path=path, line=1, function=function, owner="array", field=field, obj="arr",
                              how="", code="", synchronised="none", made_at=made_at)

    sites = (site("PyArray_Zero", "flags"), site("PyArray_Dead", "nd"),
             site("PyArray_Zero", "nd", made_at=3),  # written on an array it made: not a writer
             site("helper", "nd"),  # not in the C API
             site("PyArray_INLINE", "base", path=levels.PUBLIC_HEADERS + "ndarrayobject.h"))
    unreachable = ownership.Judgement("unreachable", ("array.nd",), "never runs")
    monkeypatch.setattr(ownership, "sites", lambda version: sites)
    monkeypatch.setattr(ownership, "judgement_of",
                        lambda s: unreachable if s.function == "PyArray_Dead" else None)
    assert levels.api_writers() == {"PyArray_Zero": {"flags"}, "PyArray_INLINE": {"base"}}
    monkeypatch.setattr(levels, "WRITERS", (levels.Writer("w", levels.Lines("x.c", "f", "x"), frees=False),))
    monkeypatch.setattr(ownership, "fields_written", lambda version=None: {("x.c", "f"): ("array.flags",)})
    zero = levels.placed("PyArray_Zero", python=False, wants="writes", fields=("flags",))
    assert levels.api_writers_missing([zero]) == ["PyArray_INLINE writes base but is not in the table"]
    inline = levels.placed("PyArray_INLINE", python=False, wants="writes", fields=("base",))
    assert levels.api_writers_missing([zero, inline]) == [
        "PyArray_INLINE writes base, which no writer of WRITERS writes"]


def test_each_level_in_plain_words_beside_the_rows_it_places():
    """A reader at "distinct" is fine to share while nothing writes: the plain words say so beside it."""
    rows = [*levels.accessors(), levels.placed("a.shape = s", python=True, wants="writes", fields=("nd",))]
    assert levels.plain_words("reads") == ("yes", "no")
    assert levels.plain_words("writes")[0].startswith("no")
    assert levels.plain_words(None) == levels.UNKNOWN_PLAIN
    legend = levels.legend_table(rows).splitlines()
    assert legend[0].startswith("| level |") and all(header in legend[0] for header in levels.PLAIN_HEADER)
    # Readers first, then pointers, writers, unknown; each with its examples, a level no row has is left out.
    assert [line.split(" | ")[0] for line in legend[2:]] == ["| **distinct**", "| **compatible**",
                                                             "| **distinct**", "| **unknown**"]
    assert "`PyArray_NDIM`" in legend[2] and legend[2].endswith("| yes | no |")
    key = levels.key_rows_table(rows, ("PyArray_NDIM", "a.shape = s")).splitlines()
    assert key[2] == "| `PyArray_NDIM` | **distinct** | yes | no |"
    assert key[3].startswith("| `a.shape = s` | **distinct** | no")
    with pytest.raises(quote.QuoteError, match="0 rows are called 'PyArray_GONE'"):
        levels.key_rows_table(rows, ("PyArray_GONE",))
    full = levels.levels_table(rows).splitlines()
    assert full[0] == ("| operation | level | " + " | ".join(levels.PLAIN_HEADER)
                       + " | fields | where | shown, and notes |")


GLOSSARY = """\
   data race
      A situation where multiple threads access the same memory location
      concurrently, at least one of the accesses is a write, and the threads
      do not use any synchronization.  See also :term:`race condition` and
      :term:`thread-safe`.

   deadlock
"""


def test_the_plain_yes_rests_on_cpythons_data_race_and_numpys_advice(tmp_path):
    glossary = tmp_path / "cpython" / "Doc/glossary.rst"
    glossary.write_text("Glossary\n\n" + GLOSSARY)
    race = levels.data_race_definition()
    assert (race.start, race.end) == (3, 7) and race.url.endswith("Doc/glossary.rst#L3-L7")
    glossary.write_text("Glossary\n\n" + GLOSSARY.replace("at least one of the accesses is a write, ", ""))
    with pytest.raises(quote.QuoteError, match="no longer needs a write"):
        levels.data_race_definition()
    page = tmp_path / "numpy" / levels.NUMPY_THREAD_SAFETY_RST
    page.parent.mkdir(parents=True)
    page.write_text("Thread Safety\n\nIn the future, we may add locking to ndarray, but for now we suggest\n"
                    "read-only access, or adding your own\nlocking if you need to mutation and threads.\n")
    advice = levels.numpy_read_only_advice()
    assert (advice.start, advice.end) == (3, 5) and "v" + advice.version in advice.url


def test_a_writer_the_levels_rest_on_that_the_map_does_not_know_is_named(monkeypatch):
    """The fake map knows shape_set, flags_set and names_set: a writer elsewhere is off the map."""
    assert levels.writers_off_the_map() == []
    stray = levels.Writer("a stray writer", levels.Lines(SETTERS, "stray_set", "x"), frees=False)
    monkeypatch.setattr(levels, "WRITERS", (*WRITERS, stray))
    assert levels.writers_off_the_map() == [f"a stray writer: the map finds no write in stray_set "
                                            f"({SETTERS})"]
