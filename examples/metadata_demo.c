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
 * The second half of the file is about metadata that *does* change in place,
 * as with NumPy's dtype setter, which rewrites the last dimension and stride
 * of an array one field after the other. A "flip" toggles a 1-d array
 * between two views of the same buffer, (n, s) "every item" and
 * (n/2, 2s) "every other item", in two writes: dims[0] first, strides[0]
 * second. A reader that gets in between sees a torn pair: (n/2, s) or
 * (n, 2s), the latter spanning twice the buffer.
 *
 *   flip_cs(arr, ...)        the flip inside Py_BEGIN_CRITICAL_SECTION(arr)
 *   flip_mutex(arr, ...)     the flip under one module-level PyMutex
 *   flip_unlocked(arr)       the flip with no lock (for thread-confined arrays)
 *   flip_nested(a, b, ...)   flips a inside a critical section on a, and
 *                            looks at b in a nested critical section on b
 *   flipped_view(arr)        copy-modify: a new view with the flipped pair;
 *                            arr itself is only read
 *   read_cs(arr), read_mutex(arr), read_unlocked(arr)
 *                            return (dims[0], strides[0]), honouring the
 *                            critical section, the mutex, or nothing
 *   hold_cs(obj, announce, until)
 *                            hold obj's critical section until a stage
 *
 * The writers take optional keyword arguments that open a window between
 * the two writes, for forced interleavings: callback() is called there;
 * announce=k sets the module's stage counter to k; until=k spins, without
 * blocking (so the lock stays held), until another thread has set the stage
 * to k or more; linger=seconds spins a little longer. set_stage(k) and
 * wait_stage(k, timeout) let Python threads take part. One forced demo at a
 * time per process: the stage counter is shared.
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
#include <stdatomic.h>
#include <sched.h>
#include <time.h>

#if PY_VERSION_HEX < 0x030D0000
/* PyMutex and critical sections are public from 3.13. Before that there is
 * no free-threaded build: the GIL already serialises these functions. */
typedef struct { char unused; } PyMutex;
#define PyMutex_Lock(m) ((void)(m))
#define PyMutex_Unlock(m) ((void)(m))
#define Py_BEGIN_CRITICAL_SECTION(op) {
#define Py_END_CRITICAL_SECTION() }
#endif

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

/* ================================================================
 * In-place metadata mutation, and the locks that make it safe (or not).
 * ================================================================ */

/* How far a forced interleaving has got; see the comment at the top. */
static atomic_int stage;
/* One lock for every array flipped with flip_mutex: module state, the case
 * PyMutex is meant for. Zero-initialised means unlocked; never moved. */
static PyMutex flip_lock;

#define SPIN_TIMEOUT 5.0  /* seconds: a forced demo that waits longer is broken */

static double
now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * Busy-wait until stage >= target; 1 if reached, 0 on timeout. It never
 * blocks in the sense CPython means (no PyMutex, no detaching), so critical
 * sections held by the caller stay held: this is how a writer keeps its
 * window open without giving the lock away.
 */
static int
spin_until_stage(int target, double timeout)
{
    double end = now_seconds() + timeout;
    while (atomic_load(&stage) < target) {
        if (now_seconds() > end) {
            return 0;
        }
        sched_yield();
    }
    return 1;
}

static void
spin_for(double seconds)
{
    double end = now_seconds() + seconds;
    while (now_seconds() < end) {
        sched_yield();
    }
}

typedef struct {
    PyObject *callback;  /* borrowed; NULL for None */
    int announce;        /* set stage to this inside the window (0: don't) */
    int until;           /* then spin until stage >= until (0: don't) */
    double linger;       /* then spin this many seconds more */
} window;

static char *writer_kwlist[] = {"arr", "callback", "announce", "until", "linger", NULL};

static int
parse_writer(PyObject *args, PyObject *kwds, const char *format, PyArrayObject **arr, window *w)
{
    PyObject *callback = Py_None;
    w->announce = w->until = 0;
    w->linger = 0.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, format, writer_kwlist, &PyArray_Type, arr,
                                     &callback, &w->announce, &w->until, &w->linger)) {
        return -1;
    }
    if (PyArray_NDIM(*arr) != 1 || PyArray_ITEMSIZE(*arr) == 0) {  /* ndim never changes */
        PyErr_SetString(PyExc_ValueError, "flip needs a 1-d array with a non-zero itemsize");
        return -1;
    }
    w->callback = callback == Py_None ? NULL : callback;
    return 0;
}

/* The gap between the two writes. Returns 0, or -1 with an exception set. */
static int
open_window(const window *w)
{
    int status = 0;
    if (w->announce) {
        atomic_store(&stage, w->announce);
    }
    if (w->callback != NULL) {
        PyObject *ret = PyObject_CallNoArgs(w->callback);
        if (ret == NULL) {
            status = -1;
        }
        Py_XDECREF(ret);
    }
    if (w->until && !spin_until_stage(w->until, SPIN_TIMEOUT) && status == 0) {
        PyErr_Format(PyExc_TimeoutError, "stage %d not reached within %.0f s", w->until, SPIN_TIMEOUT);
        status = -1;
    }
    if (w->linger > 0) {
        spin_for(w->linger);
    }
    return status;
}

/* The in-place update itself: two plain writes with a window between them.
 * The caller provides the exclusion (or deliberately does not). Both
 * writes always happen, even if the window raised, so the array is never
 * left torn.
 */
static int
flip_in_place(PyArrayObject *arr, const window *w)
{
    npy_intp *dims = PyArray_DIMS(arr);
    npy_intp *strides = PyArray_STRIDES(arr);
    npy_intp item = PyArray_ITEMSIZE(arr);
    int halve = strides[0] == item;  /* every item -> every other item */

    if (strides[0] != item && strides[0] != 2 * item) {
        PyErr_SetString(PyExc_ValueError, "flip needs a contiguous array or one flipped before");
        return -1;
    }
    if (halve && dims[0] % 2 != 0) {
        PyErr_SetString(PyExc_ValueError, "flip needs an even length");
        return -1;
    }
    dims[0] = halve ? dims[0] / 2 : dims[0] * 2;              /* write 1 of 2 */
    int status = w != NULL ? open_window(w) : 0;
    strides[0] = halve ? strides[0] * 2 : strides[0] / 2;     /* write 2 of 2 */
    PyArray_UpdateFlags(arr, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_F_CONTIGUOUS);
    return status;
}

/* The flip inside the array's own critical section: the recommended lock
 * for per-object state, with the caveats the book demonstrates. */
static PyObject *
flip_cs(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwds)
{
    PyArrayObject *arr;
    window w;
    if (parse_writer(args, kwds, "O!|Oiid:flip_cs", &arr, &w) < 0) {
        return NULL;
    }
    int status;
    Py_BEGIN_CRITICAL_SECTION(arr);
    status = flip_in_place(arr, &w);
    Py_END_CRITICAL_SECTION();
    return status < 0 ? NULL : Py_NewRef(Py_None);
}

/* The flip under the module's PyMutex. Never call back into Python while
 * holding it: PyMutex is not re-entrant, and the callback may want it. */
static PyObject *
flip_mutex(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwds)
{
    PyArrayObject *arr;
    window w;
    if (parse_writer(args, kwds, "O!|Oiid:flip_mutex", &arr, &w) < 0) {
        return NULL;
    }
    PyMutex_Lock(&flip_lock);
    int status = flip_in_place(arr, &w);
    PyMutex_Unlock(&flip_lock);
    return status < 0 ? NULL : Py_NewRef(Py_None);
}

/* No lock at all: correct only for an array no other thread can reach. */
static PyObject *
flip_unlocked(PyObject *Py_UNUSED(module), PyObject *arg)
{
    if (!PyArray_Check(arg) || PyArray_NDIM((PyArrayObject *)arg) != 1) {
        PyErr_SetString(PyExc_TypeError, "flip_unlocked needs a 1-d array");
        return NULL;
    }
    return flip_in_place((PyArrayObject *)arg, NULL) < 0 ? NULL : Py_NewRef(Py_None);
}

/*
 * Flip a while holding a's critical section, and in the window look at b
 * under b's critical section. Looks like "a and b are both locked here";
 * it is not: if b's lock is taken, beginning the inner section blocks, and
 * blocking suspends the outer one, so a is unlocked while a is torn. Use
 * Py_BEGIN_CRITICAL_SECTION2(a, b) to hold both.
 */
static PyObject *
flip_nested(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"a", "b", "announce", NULL};
    PyArrayObject *a, *b;
    int announce = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!|i:flip_nested", kwlist,
                                     &PyArray_Type, &a, &PyArray_Type, &b, &announce)) {
        return NULL;
    }
    if (PyArray_NDIM(a) != 1) {
        PyErr_SetString(PyExc_ValueError, "flip needs a 1-d array");
        return NULL;
    }
    npy_intp *dims = PyArray_DIMS(a), *strides = PyArray_STRIDES(a);
    npy_intp item = PyArray_ITEMSIZE(a), b_len = 0;
    int bad = 0;
    Py_BEGIN_CRITICAL_SECTION(a);
    int halve = strides[0] == item;
    bad = (strides[0] != item && strides[0] != 2 * item) || (halve && dims[0] % 2 != 0);
    if (!bad) {
        dims[0] = halve ? dims[0] / 2 : dims[0] * 2;           /* write 1 of 2 */
        if (announce) {
            atomic_store(&stage, announce);
        }
        Py_BEGIN_CRITICAL_SECTION(b);                          /* may suspend a's */
        b_len = PyArray_DIM(b, 0);
        Py_END_CRITICAL_SECTION();
        strides[0] = halve ? strides[0] * 2 : strides[0] / 2;  /* write 2 of 2 */
        PyArray_UpdateFlags(a, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_F_CONTIGUOUS);
    }
    Py_END_CRITICAL_SECTION();
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "flip needs a contiguous array of even length");
        return NULL;
    }
    return PyLong_FromSsize_t(b_len);
}

/* Copy-modify: the same metadata change as a new view; arr is only read. */
static PyObject *
flipped_view(PyObject *Py_UNUSED(module), PyObject *arg)
{
    if (!PyArray_Check(arg) || PyArray_NDIM((PyArrayObject *)arg) != 1) {
        PyErr_SetString(PyExc_TypeError, "flipped_view needs a 1-d array");
        return NULL;
    }
    PyArrayObject *arr = (PyArrayObject *)arg;
    npy_intp item = PyArray_ITEMSIZE(arr);
    npy_intp dim = PyArray_DIM(arr, 0), stride = PyArray_STRIDE(arr, 0);  /* local copies */
    int halve = stride == item;
    if ((stride != item && stride != 2 * item) || (halve && dim % 2 != 0)) {
        PyErr_SetString(PyExc_ValueError, "flipped_view needs a contiguous array of even length");
        return NULL;
    }
    dim = halve ? dim / 2 : dim * 2;
    stride = halve ? stride * 2 : stride / 2;
    PyArray_Descr *descr = PyArray_DESCR(arr);
    Py_INCREF(descr);  /* stolen below */
    PyObject *view = PyArray_NewFromDescr(&PyArray_Type, descr, 1, &dim, &stride,
                                          PyArray_BYTES(arr),
                                          PyArray_FLAGS(arr) & NPY_ARRAY_WRITEABLE, NULL);
    if (view == NULL) {
        return NULL;
    }
    Py_INCREF(arr);  /* the view keeps the buffer alive; SetBaseObject steals */
    if (PyArray_SetBaseObject((PyArrayObject *)view, (PyObject *)arr) < 0) {
        Py_DECREF(view);
        return NULL;
    }
    return view;
}

static PyObject *
pair_of(PyArrayObject *arr)
{
    return Py_BuildValue("(nn)", (Py_ssize_t)PyArray_DIM(arr, 0), (Py_ssize_t)PyArray_STRIDE(arr, 0));
}

static int
check_reader_arg(PyObject *arg)
{
    if (!PyArray_Check(arg) || PyArray_NDIM((PyArrayObject *)arg) != 1) {
        PyErr_SetString(PyExc_TypeError, "expected a 1-d array");
        return -1;
    }
    return 0;
}

/* Reads both fields inside the array's critical section: waits for flip_cs. */
static PyObject *
read_cs(PyObject *Py_UNUSED(module), PyObject *arg)
{
    if (check_reader_arg(arg) < 0) {
        return NULL;
    }
    npy_intp dim, stride;
    Py_BEGIN_CRITICAL_SECTION(arg);
    dim = PyArray_DIM((PyArrayObject *)arg, 0);
    stride = PyArray_STRIDE((PyArrayObject *)arg, 0);
    Py_END_CRITICAL_SECTION();
    return Py_BuildValue("(nn)", (Py_ssize_t)dim, (Py_ssize_t)stride);
}

/* Reads both fields under the module's PyMutex: waits for flip_mutex only. */
static PyObject *
read_mutex(PyObject *Py_UNUSED(module), PyObject *arg)
{
    if (check_reader_arg(arg) < 0) {
        return NULL;
    }
    npy_intp dim, stride;
    PyMutex_Lock(&flip_lock);
    dim = PyArray_DIM((PyArrayObject *)arg, 0);
    stride = PyArray_STRIDE((PyArrayObject *)arg, 0);
    PyMutex_Unlock(&flip_lock);
    return Py_BuildValue("(nn)", (Py_ssize_t)dim, (Py_ssize_t)stride);
}

/* Reads both fields with no lock: what most code that "only reads" does. */
static PyObject *
read_unlocked(PyObject *Py_UNUSED(module), PyObject *arg)
{
    return check_reader_arg(arg) < 0 ? NULL : pair_of((PyArrayObject *)arg);
}

/* Hold obj's critical section (spinning, so it stays held) until a stage. */
static PyObject *
hold_cs(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *obj;
    int announce, until, reached;
    if (!PyArg_ParseTuple(args, "Oii:hold_cs", &obj, &announce, &until)) {
        return NULL;
    }
    Py_BEGIN_CRITICAL_SECTION(obj);
    atomic_store(&stage, announce);
    reached = spin_until_stage(until, SPIN_TIMEOUT);
    Py_END_CRITICAL_SECTION();
    return PyBool_FromLong(reached);
}

static PyObject *
set_stage(PyObject *Py_UNUSED(module), PyObject *arg)
{
    long value = PyLong_AsLong(arg);
    if (value == -1 && PyErr_Occurred()) {
        return NULL;
    }
    atomic_store(&stage, (int)value);
    Py_RETURN_NONE;
}

/* Wait for a stage *detached* (like any blocking call), so that a stop-the-
 * world pause or a thread waiting to attach is never held up by us. */
static PyObject *
wait_stage(PyObject *Py_UNUSED(module), PyObject *args)
{
    int target, reached;
    double timeout = SPIN_TIMEOUT;
    if (!PyArg_ParseTuple(args, "i|d:wait_stage", &target, &timeout)) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    reached = spin_until_stage(target, timeout);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(reached);
}

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
    {"flip_cs", (PyCFunction)(void (*)(void))flip_cs, METH_VARARGS | METH_KEYWORDS,
     "flip_cs(arr, callback=None, announce=0, until=0, linger=0.0)\n--\n\n"
     "Toggle arr's (dims[0], strides[0]) in place inside arr's critical section."},
    {"flip_mutex", (PyCFunction)(void (*)(void))flip_mutex, METH_VARARGS | METH_KEYWORDS,
     "flip_mutex(arr, callback=None, announce=0, until=0, linger=0.0)\n--\n\n"
     "Toggle arr's (dims[0], strides[0]) in place under the module's PyMutex."},
    {"flip_unlocked", flip_unlocked, METH_O,
     "flip_unlocked(arr)\n--\n\nToggle arr's (dims[0], strides[0]) in place, no lock."},
    {"flip_nested", (PyCFunction)(void (*)(void))flip_nested, METH_VARARGS | METH_KEYWORDS,
     "flip_nested(a, b, announce=0)\n--\n\n"
     "Toggle a in a's critical section; between the writes, read b in a nested one."},
    {"flipped_view", flipped_view, METH_O,
     "flipped_view(arr)\n--\n\nCopy-modify: a new view of arr with the toggled pair."},
    {"read_cs", read_cs, METH_O, "read_cs(arr)\n--\n\n(dims[0], strides[0]) read in arr's critical section."},
    {"read_mutex", read_mutex, METH_O, "read_mutex(arr)\n--\n\n(dims[0], strides[0]) read under the PyMutex."},
    {"read_unlocked", read_unlocked, METH_O, "read_unlocked(arr)\n--\n\n(dims[0], strides[0]) read with no lock."},
    {"hold_cs", hold_cs, METH_VARARGS,
     "hold_cs(obj, announce, until)\n--\n\nHold obj's critical section until stage >= until."},
    {"set_stage", set_stage, METH_O, "set_stage(k)\n--\n\nSet the forced-interleaving stage."},
    {"wait_stage", wait_stage, METH_VARARGS,
     "wait_stage(k, timeout=5.0)\n--\n\nWait (detached) until stage >= k; False on timeout."},
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
    /* The module's own state (a PyMutex and an atomic counter) needs no GIL,
     * so importing it must not turn the GIL back on: the races are the point. */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef metadata_demo_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "metadata_demo",
    .m_doc = "Metadata mutation patterns and the locks around them (book demo).",
    .m_size = 0,
    .m_methods = metadata_demo_methods,
    .m_slots = metadata_demo_slots,
};

PyMODINIT_FUNC
PyInit_metadata_demo(void)
{
    return PyModuleDef_Init(&metadata_demo_module);
}
