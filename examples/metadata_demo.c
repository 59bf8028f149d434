/*
 * metadata_demo: two ways to build a "repeated" array from a shared one.
 *
 * Written for the book on metadata thread safety under free-threaded CPython.
 * It mirrors, in a few dozen lines of our own, the shape of NumPy's
 * PyArray_Repeat before and after the fix for numpy/numpy#28197 (PR #28203),
 * so that the race can be shown, timed and fed to ThreadSanitizer on any
 * NumPy version, including fixed ones.
 *
 *   repeat_mutate_restore(arr, repeats, axis=0, callback=None)
 *       The pre-fix pattern: write the new length into the input array's own
 *       dims, allocate the result from those dims, write the old length back.
 *       Single-threaded, the input looks untouched afterwards; with the GIL
 *       off, every other thread holding the array can see (and act on) the
 *       temporary length.
 *
 *   repeat_copy_modify(arr, repeats, axis=0, callback=None)
 *       The fixed pattern: copy the dims into a local array, modify the copy,
 *       allocate from the copy. The input array is only ever read.
 *
 * `callback`, if given, is called with no arguments at the point where the
 * mutate-restore version has the wrong length in the shared array (between
 * the write and the restore), so a driver can hold the window open and let
 * another thread look. The copy-modify version calls it at the same point.
 *
 * Only scalar repeat counts and int axes are supported; object arrays are
 * refused (the byte-copy fill below does not manage references).
 *
 * Build (the driver demo_patterns.py does this for you):
 *   cc -shared -fPIC -O2 -I<python include> -I<numpy.get_include()> \
 *      metadata_demo.c -o metadata_demo$(python3 -c \
 *      'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <string.h>

/* Everything both patterns know about one call once the arguments are checked. */
typedef struct {
    PyArrayObject *aop;  /* new reference; often the caller's own array, see below */
    PyObject *callback;  /* borrowed; NULL when None was passed */
    int axis;            /* normalised to 0 <= axis < ndim */
    npy_intp n;          /* length of aop along axis, read once */
    npy_intp repeats;
    npy_intp total;      /* n * repeats: the result's length along axis */
} repeat_call;

/*
 * Parse and validate the arguments shared by both patterns and fill *rc.
 * Returns 0, or -1 with a Python exception set (and nothing to release).
 *
 * PyArray_CheckAxis with NPY_ARRAY_CARRAY hands back the caller's own array
 * (with a new reference) when it is already C-contiguous, aligned and
 * writeable, and a private copy otherwise. That is what made the pre-fix
 * repeat dangerous: for the common, contiguous case, "aop" *is* the shared
 * array, so writing to its dims writes to everybody's array.
 */
static int
prepare_repeat(PyObject *args, PyObject *kwds, const char *format, repeat_call *rc)
{
    static char *kwlist[] = {"arr", "repeats", "axis", "callback", NULL};
    PyArrayObject *arr = NULL;
    Py_ssize_t repeats = 0;
    int axis = 0;
    PyObject *callback = Py_None;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, format, kwlist, &PyArray_Type, &arr,
                                     &repeats, &axis, &callback)) {
        return -1;
    }
    if (repeats < 0) {
        PyErr_Format(PyExc_ValueError, "repeats must be >= 0, not %zd", repeats);
        return -1;
    }
    if (callback != Py_None && !PyCallable_Check(callback)) {
        PyErr_Format(PyExc_TypeError, "callback must be callable or None, not %.100s",
                     Py_TYPE(callback)->tp_name);
        return -1;
    }
    if (PyDataType_REFCHK(PyArray_DESCR(arr))) {
        PyErr_SetString(PyExc_TypeError,
                        "arrays holding Python objects are not supported");
        return -1;
    }

    /* Normalises a negative axis; raises AxisError (a ValueError) when out of range. */
    PyArrayObject *aop = (PyArrayObject *)PyArray_CheckAxis(arr, &axis, NPY_ARRAY_CARRAY);
    if (aop == NULL) {
        return -1;
    }
    /* The one read of the length along axis (TSAN's "read of size 8"). */
    npy_intp n = PyArray_DIM(aop, axis);
    if (n != 0 && repeats > NPY_MAX_INTP / n) {
        Py_DECREF(aop);
        PyErr_Format(PyExc_ValueError, "result too large: %zd * %zd items along axis %d",
                     (Py_ssize_t)n, repeats, axis);
        return -1;
    }
    rc->aop = aop;
    rc->callback = callback == Py_None ? NULL : callback;
    rc->axis = axis;
    rc->n = n;
    rc->repeats = (npy_intp)repeats;
    rc->total = n * (npy_intp)repeats;
    return 0;
}

/*
 * The step both patterns share: call the callback (if any), then allocate an
 * empty result of aop's dtype with the given dims. The only difference
 * between the two patterns is *which* dims pointer they pass: the shared
 * array's own (mutate-restore) or a local copy (copy-modify).
 * Returns a new reference, or NULL with an exception set.
 */
static PyArrayObject *
new_result_in_window(repeat_call *rc, npy_intp *dims)
{
    if (rc->callback != NULL) {
        PyObject *ret = PyObject_CallNoArgs(rc->callback);
        if (ret == NULL) {
            return NULL;
        }
        Py_DECREF(ret);
    }
    PyArray_Descr *descr = PyArray_DESCR(rc->aop);
    Py_INCREF(descr);  /* PyArray_NewFromDescr steals a reference to descr */
    return (PyArrayObject *)PyArray_NewFromDescr(&PyArray_Type, descr, PyArray_NDIM(rc->aop),
                                                 dims, NULL, NULL, 0, NULL);
}

/*
 * Fill `result` with each of the rc->n items of aop along the axis copied
 * rc->repeats times, chunk by chunk, like repeat does (both arrays are
 * C-contiguous; outer count and chunk size come from the dims that are never
 * written, the ones before and after the axis).
 *
 * Like repeat, the loop trusts rc->n and rc->repeats rather than the arrays'
 * current lengths along the axis. That is safe for copy-modify. For
 * mutate-restore under a race it is exactly how the damage is done: n may be
 * another thread's temporary total (reads past the end of aop), or the
 * result may have been allocated while another thread had already restored
 * the shared length (writes past the end of result: heap corruption).
 */
static void
fill_repeated(const repeat_call *rc, PyArrayObject *result)
{
    int ndim = PyArray_NDIM(result);
    npy_intp *rdims = PyArray_DIMS(result);
    npy_intp outer = 1;
    npy_intp chunk = PyArray_ITEMSIZE(result);
    for (int i = 0; i < rc->axis; i++) {
        outer *= rdims[i];
    }
    for (int i = rc->axis + 1; i < ndim; i++) {
        chunk *= rdims[i];
    }
    const char *src = PyArray_BYTES(rc->aop);
    char *dst = PyArray_BYTES(result);

    /* No Python API below, and we hold references to both arrays. */
    Py_BEGIN_ALLOW_THREADS
    for (npy_intp o = 0; o < outer; o++) {
        for (npy_intp i = 0; i < rc->n; i++) {
            for (npy_intp k = 0; k < rc->repeats; k++) {
                memcpy(dst, src, (size_t)chunk);
                dst += chunk;
            }
            src += chunk;
        }
    }
    Py_END_ALLOW_THREADS
}

/* The pre-fix pattern. Deliberately racy: do not copy this into real code. */
static PyObject *
repeat_mutate_restore(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwds)
{
    repeat_call rc;
    if (prepare_repeat(args, kwds, "O!n|iO:repeat_mutate_restore", &rc) < 0) {
        return NULL;
    }
    npy_intp *dims = PyArray_DIMS(rc.aop);  /* the shared array's own dims */

    dims[rc.axis] = rc.total;  /* MUTATE: every thread now sees the new length */
    PyArrayObject *result = new_result_in_window(&rc, dims);
    dims[rc.axis] = rc.n;      /* RESTORE: always, even if the callback raised */

    if (result != NULL) {
        fill_repeated(&rc, result);
    }
    Py_DECREF(rc.aop);
    return (PyObject *)result;
}

/* The fixed pattern: the input's dims are read, never written. */
static PyObject *
repeat_copy_modify(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwds)
{
    repeat_call rc;
    if (prepare_repeat(args, kwds, "O!n|iO:repeat_copy_modify", &rc) < 0) {
        return NULL;
    }
    npy_intp dims[NPY_MAXDIMS];  /* private to this call, so no other thread can see it */
    memcpy(dims, PyArray_DIMS(rc.aop), (size_t)PyArray_NDIM(rc.aop) * sizeof(npy_intp));

    dims[rc.axis] = rc.total;  /* MODIFY the copy only */
    PyArrayObject *result = new_result_in_window(&rc, dims);

    if (result != NULL) {
        fill_repeated(&rc, result);
    }
    Py_DECREF(rc.aop);
    return (PyObject *)result;
}

/* More patterns (e.g. a mutator protected by a critical section) go here. */
static PyMethodDef metadata_demo_methods[] = {
    {"repeat_mutate_restore", (PyCFunction)(void (*)(void))repeat_mutate_restore,
     METH_VARARGS | METH_KEYWORDS,
     "repeat_mutate_restore(arr, repeats, axis=0, callback=None)\n--\n\n"
     "Repeat each item of arr along axis, the pre-fix way: temporarily write\n"
     "the new length into arr's own dims (racy). callback() runs while the\n"
     "wrong length is in place."},
    {"repeat_copy_modify", (PyCFunction)(void (*)(void))repeat_copy_modify,
     METH_VARARGS | METH_KEYWORDS,
     "repeat_copy_modify(arr, repeats, axis=0, callback=None)\n--\n\n"
     "Repeat each item of arr along axis, the fixed way: modify a local copy\n"
     "of the dims. callback() runs at the same point as in the racy version."},
    {NULL, NULL, 0, NULL},
};

static int
metadata_demo_exec(PyObject *Py_UNUSED(module))
{
    /* Loads NumPy's C-API table; without it every PyArray_* call crashes. */
#if NPY_ABI_VERSION >= 0x02000000
    if (PyArray_ImportNumPyAPI() < 0) {
        return -1;
    }
#else
    import_array1(-1);
#endif
    return 0;
}

static PyModuleDef_Slot metadata_demo_slots[] = {
    {Py_mod_exec, metadata_demo_exec},
#ifdef Py_mod_multiple_interpreters
    /* NumPy itself does not support subinterpreters. */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
#ifdef Py_mod_gil
    /* The module keeps no state of its own that needs the GIL, so importing
     * it must not turn the GIL back on: the race is what we want to show. */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef metadata_demo_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "metadata_demo",
    .m_doc = "Mutate-restore versus copy-modify of array metadata (book demo).",
    .m_size = 0,
    .m_methods = metadata_demo_methods,
    .m_slots = metadata_demo_slots,
};

PyMODINIT_FUNC
PyInit_metadata_demo(void)
{
    return PyModuleDef_Init(&metadata_demo_module);
}
