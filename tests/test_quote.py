"""ftbook.quote: NumPy's C code cut from a release's sources, or the build stops."""

import pytest

from ftbook import quote

OLD = """\
#include "x.h"

static int helper(int a);   /* a prototype, not the definition */

/*NUMPY_API
 * Repeat.
 */
NPY_NO_EXPORT PyObject *
PyArray_Repeat(PyArrayObject *aop, int axis)
{
    PyArray_DIMS(aop)[axis] = total;
    ret = make(PyArray_DIMS(aop));
    PyArray_DIMS(aop)[axis] = n;
    return ret;
}

static int
helper(int a)
{
    return PyArray_Repeat(NULL, a) != NULL;
}
"""
NEW = OLD.replace("    PyArray_DIMS(aop)[axis] = total;\n    ret = make(PyArray_DIMS(aop));\n"
                  "    PyArray_DIMS(aop)[axis] = n;\n",
                  "    npy_intp dims[64];\n    dims[axis] = total;\n    ret = make(dims);\n")

# Only the function after PyArray_Repeat changes, two lines below its closing brace.
NEXT_FUNCTION_CHANGED = OLD.replace("static int\nhelper(int a)\n", "static long\nhelper(int a)\n")


@pytest.fixture(autouse=True)
def fake_sdists(tmp_path, monkeypatch):
    for version, text in (("1.0", OLD), ("1.1", NEW), ("1.2", NEXT_FUNCTION_CHANGED)):
        (tmp_path / version / "src").mkdir(parents=True)
        (tmp_path / version / "src" / "item.c").write_text(text)
    monkeypatch.setattr(quote, "numpy_sdist", lambda version, log=None: tmp_path / version)


def test_a_function_is_cut_from_its_return_type_to_its_closing_brace():
    repeat = quote.c_function("1.0", "src/item.c", "PyArray_Repeat")
    assert (repeat.start, repeat.end) == (8, 15)
    assert repeat.lines[0] == "NPY_NO_EXPORT PyObject *" and repeat.lines[-1] == "}"
    assert repeat.url == "https://github.com/numpy/numpy/blob/v1.0/src/item.c#L8-L15"


def test_the_definition_not_a_prototype_or_a_call():
    helper = quote.c_function("1.0", "src/item.c", "helper")
    assert helper.start == 17 and "return PyArray_Repeat" in helper


def test_between_narrows_to_marker_lines_and_keeps_line_numbers():
    window = quote.c_function("1.0", "src/item.c", "PyArray_Repeat").between("= total;", "= n;")
    assert (window.start, window.end) == (11, 13)


# If NumPy's code is not where the chapter says, the build must stop, not quote something else.
def test_missing_code_is_an_error():
    with pytest.raises(quote.QuoteError):
        quote.c_function("1.0", "src/item.c", "PyArray_Nothing")
    with pytest.raises(quote.QuoteError):
        quote.c_function("1.0", "src/item.c", "PyArray_Repeat").between("not there", "= n;")
    with pytest.raises(quote.QuoteError):
        quote.source_lines("1.0", "src/missing.c")


def test_the_diff_has_each_releases_real_line_numbers():
    old = quote.c_function("1.0", "src/item.c", "PyArray_Repeat")
    new = quote.c_function("1.1", "src/item.c", "PyArray_Repeat")
    diff = quote.diff_lines(old, new)
    assert diff[0] == "--- NumPy 1.0: src/item.c" and diff[2].startswith("@@ -8,")
    assert "-    PyArray_DIMS(aop)[axis] = n;" in diff and "+    dims[axis] = total;" in diff
    with pytest.raises(quote.QuoteError):  # nothing changed in this function
        quote.diff_lines(quote.c_function("1.0", "src/item.c", "helper"),
                         quote.c_function("1.1", "src/item.c", "helper"))


def test_a_change_to_the_next_function_is_not_this_ones():
    # Its hunk's context lines reach back into PyArray_Repeat (the-bug once showed such a hunk of
    # get_stringdtype_dtype under run_threaded): the function itself did not change.
    old = quote.c_function("1.0", "src/item.c", "PyArray_Repeat")
    with pytest.raises(quote.QuoteError):
        quote.diff_lines(old, quote.c_function("1.2", "src/item.c", "PyArray_Repeat"))
    helper = quote.diff_lines(quote.c_function("1.0", "src/item.c", "helper"),
                              quote.c_function("1.2", "src/item.c", "helper"))
    assert "-static int" in helper and "+static long" in helper


def test_a_frames_file_name_is_found_where_it_is_in_the_sources(tmp_path):
    """TSAN's frames drop folders; a header's inline accessor is found as well as a .c file."""
    header = tmp_path / "1.0" / "include" / "numpy" / "ndarraytypes.h"
    header.parent.mkdir(parents=True)
    header.write_text("static inline npy_intp PyArray_DIM(a, n) { return dims[n]; }\n")
    (tmp_path / "1.1" / "include").mkdir()
    (tmp_path / "1.1" / "include" / "item.c").write_text(OLD)  # a second item.c: which one is unknown
    assert quote.source_path("1.0", "ndarraytypes.h") == "include/numpy/ndarraytypes.h"
    assert quote.source_path("1.0", "item.c") == "src/item.c"
    assert quote.source_path("1.1", "item.c") is None  # two files of that name: no guess
    assert quote.source_path("1.0", "generated.c") is None  # made at build time: in no sdist
