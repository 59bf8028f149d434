"""NumPy's array-metadata API in CPython's thread-safety levels, from today's released sources.

CPython 3.14 documents the thread safety of its C API in five levels
(``Doc/library/threadsafety.rst``) and annotates its functions in
``Doc/data/threadsafety.dat``. This module places NumPy's metadata API in
the same levels, and every placement is made from evidence read at build
time, never typed in:

- :data:`RULES`: the three ways a NumPy operation meets another thread's
  use of the same array, each with the level CPython gives its own
  functions for the same reason (the *precedents*, checked in CPython's
  ``threadsafety.dat``).
- :data:`WRITERS`: the places in today's NumPy that write a field of an
  array after it was made, each one line cut from the sdist, with the
  fields that :mod:`ftbook.ownership`'s map finds its function writing.
- :func:`accessors`: every inline accessor in ``ndarraytypes.h``, read
  from the header (what it returns, which fields it touches, whether it
  writes), and placed by the rules and the writers.
- :func:`operations`: the other C functions and the Python-level
  operations, each with the rule it falls under and the lines that show it.

An operation whose fields have no writer on the list gets level
``unknown``: the table says so rather than guessing. :func:`dat_text`
writes the levels in CPython's own file format; a level CPython's parser
does not know (``unknown``) is written as a comment.

    rows = annotated_rows()          # what the chapter renders
    text = dat_text(rows)            # what the reader downloads
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
from functools import cache
from pathlib import Path

from ftbook import ownership
from ftbook.provision.sources import CURRENT_NUMPY, cpython_source
from ftbook.quote import Quote, QuoteError, c_function, source_file

CPYTHON = "3.14.7"  # the release whose levels the book uses (the interpreters' own)
LEVELS_DOC = "Doc/library/threadsafety.rst"
LEVELS_DAT = "Doc/data/threadsafety.dat"
LEVELS = ("incompatible", "compatible", "distinct", "shared", "atomic")  # least to most safe
UNKNOWN = "unknown"
HEADER = "numpy/_core/include/numpy/ndarraytypes.h"
COMPAT_HEADER = "numpy/_core/include/numpy/npy_2_compat.h"
MULTIARRAY = "numpy/_core/src/multiarray"


# --- CPython's side: the levels and its own annotations ----------------------------------------

def level_definition(level: str, version: str = CPYTHON) -> Quote:
    """The section of CPython *version*'s threadsafety.rst that defines *level*, label to last line."""
    doc = source_file("cpython", version, LEVELS_DOC)
    start = doc.line_of(f".. _threadsafety-level-{level}:")
    rest = dataclasses.replace(doc, start=start, lines=doc.lines[start - 1:])
    end = next((i for i, line in enumerate(rest.lines) if i and line.startswith(".. _")), len(rest.lines))
    while not rest.lines[end - 1].strip():
        end -= 1
    return dataclasses.replace(rest, lines=rest.lines[:end])


def definitions_match(version: str, other: str) -> bool:
    """Do two CPython releases define the five levels in the same words?"""
    return all(level_definition(level, version).lines == level_definition(level, other).lines
               for level in LEVELS)


_ROLE = re.compile(r":[\w:-]+:`([^`<]*?)\s*(?:<[^>]*>)?`")  # :term:`data races <data race>` -> data races


def definitions_table() -> str:
    """The five levels: the .dat word, CPython's heading, its definition and example, the lines."""
    from ftbook.tables import markdown_table

    rows = []
    for level in LEVELS:
        quote = level_definition(level)
        label, heading, underline, *body = [line for line in quote.lines if line.strip()]
        if set(underline) != {"-"} or len(underline) != len(heading):
            raise QuoteError(f"{LEVELS_DOC} of CPython {CPYTHON} no longer has a section heading "
                             f"under {label!r}")
        definition = _ROLE.sub(r"\1", " ".join(line.strip() for line in body))
        link = f"[L{quote.start}–L{quote.end}]({quote.url})"
        rows.append([f"`{level}`", f"**{heading}**", definition.replace("**", ""), link])
    return markdown_table(["level", f"CPython {CPYTHON}", "its definition", "threadsafety.rst"], rows)


@dataclasses.dataclass(frozen=True)
class Annotation:
    name: str
    level: str
    why: tuple[str, ...]  # the comment lines right above the entry (CPython's reason)
    line: int  # in threadsafety.dat


@cache
def cpython_annotations() -> dict[str, Annotation]:
    """CPython's threadsafety.dat as entries with the comment block that gives their reason."""
    dat = source_file("cpython", CPYTHON, LEVELS_DAT)
    found, comment = {}, []
    for number, line in enumerate(dat.lines, start=1):
        text = line.strip()
        if not text:
            comment = []
        elif text.startswith("#"):
            comment.append(text.lstrip("# "))
        else:
            name, level = (part.strip() for part in text.split(":")[:2])
            found[name] = Annotation(name, level, tuple(comment), number)
    return found


def cpython_parser():
    """CPython's own reader of threadsafety.dat, ``read_threadsafety_data``, from its docs tooling."""
    path = cpython_source(CPYTHON, log=lambda _: None) / "Doc/tools/extensions/c_annotations.py"
    spec = importlib.util.spec_from_file_location("c_annotations", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("c_annotations", module)  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module.read_threadsafety_data


# What a "yes" in the plain words rests on: a data race needs a write (CPython's glossary), and NumPy
# suggests sharing arrays read-only (its thread-safety page, as rendered and at today's tag).
NUMPY_THREAD_SAFETY = "https://numpy.org/doc/stable/reference/thread_safety.html"
NUMPY_THREAD_SAFETY_RST = "doc/source/reference/thread_safety.rst"


def data_race_definition() -> Quote:
    """CPython's glossary entry "data race", term to its last line (CPython :data:`CPYTHON`)."""
    glossary = source_file("cpython", CPYTHON, "Doc/glossary.rst")
    start = next((glossary.start + i for i, line in enumerate(glossary.lines) if line.strip() == "data race"),
                 None)
    if start is None:
        raise QuoteError(f"CPython {CPYTHON}'s glossary no longer defines 'data race'")
    entry = glossary.between(glossary.lines[start - 1], ":term:`thread-safe`.")
    if "at least one of the accesses is a write" not in " ".join(entry.text.split()):
        raise QuoteError(f"CPython {CPYTHON}'s 'data race' no longer needs a write: {entry.text}")
    return entry


def numpy_read_only_advice() -> Quote:
    """The sentence of NumPy's thread-safety page that suggests read-only sharing, at today's tag."""
    page = source_file("numpy", CURRENT_NUMPY, NUMPY_THREAD_SAFETY_RST)
    return page.between("In the future, we may add locking", "locking if you need to mutation")


def quote_link(quote: Quote) -> str:
    """A Markdown link to *quote*'s lines at its release's tag: "NumPy 2.5.5 `thread_safety.rst` L25–L28"."""
    lines = f"L{quote.start}" + (f"–L{quote.end}" if quote.end != quote.start else "")
    return f"[{quote.release} `{Path(quote.path).name}` {lines}]({quote.url})"


# --- The book's rules -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Rule:
    key: str
    level: str
    says: str  # the situation, in the book's words
    precedents: tuple[str, ...]  # CPython functions at this level for the same reason
    # In plain words, for one object: may several threads call it at once while nothing else writes the
    # object, and may one call it while another thread writes the object? (The level's name says neither.)
    nothing_writes: str = ""
    beside_a_writer: str = ""

    def check(self) -> list[Annotation]:
        """The precedents as CPython annotates them; fails if CPython gives one another level."""
        annotations = cpython_annotations()
        found = []
        for name in self.precedents:
            if name not in annotations:
                raise QuoteError(f"{name} is not in CPython {CPYTHON}'s {LEVELS_DAT}")
            if annotations[name].level != self.level:
                raise QuoteError(f"rule {self.key!r} says {self.level}, but CPython {CPYTHON} "
                                 f"annotates {name} as {annotations[name].level}")
            found.append(annotations[name])
        return found


RULES = {rule.key: rule for rule in (
    Rule("writes", "distinct",
         "writes a field of an array or dtype it was handed, with no lock and no atomic",
         ("PyCapsule_SetPointer", "PyDict_Watch"),
         nothing_writes="no: each call writes", beside_a_writer="no"),
    Rule("borrowed", "compatible",
         "returns a pointer into an array's or dtype's metadata, or a borrowed reference, that "
         "another operation on the same object frees or replaces",
         ("PyList_GET_ITEM", "PyDict_GetItem"),
         nothing_writes="yes", beside_a_writer="no: the pointer can be freed while it is used"),
    Rule("reads", "distinct",
         "reads, with no lock and no atomic, a field that another operation on the same object writes",
         ("PyCapsule_GetPointer", "PyCapsule_GetName"),
         nothing_writes="yes", beside_a_writer="no"),
)}
# An operation no rule places: it reads fields no writer on the list writes.
UNKNOWN_SAYS = "reads fields that no writer on the list writes"
UNKNOWN_PLAIN = ("yes", "no writer of these fields found")
PLAIN_HEADER = ("several threads at once, nothing else writing the object",
                "while another thread writes the object")


def plain_words(rule: str | None) -> tuple[str, str]:
    """What the level of an operation under *rule* means for one object, in plain words (:class:`Rule`)."""
    if rule is None:
        return UNKNOWN_PLAIN
    return RULES[rule].nothing_writes, RULES[rule].beside_a_writer


# --- NumPy's side: who writes which field -----------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Lines:
    """One line of today's NumPy: found by its text inside a named function, or (no function)
    the first line of the file that starts with it."""

    path: str
    function: str | None
    needle: str

    @cache  # noqa: B019 (a handful of frozen instances, for the life of the kernel)
    def quote(self) -> Quote:
        if self.function:
            within = c_function(CURRENT_NUMPY, self.path, self.function)
            line = within.line_of(self.needle)  # the build fails if the line is gone
        else:
            within = source_file("numpy", CURRENT_NUMPY, self.path)
            line = next((within.start + i for i, text in enumerate(within.lines)
                         if text.strip().startswith(self.needle)), None)
            if line is None:
                raise QuoteError(f"no line of {self.path} in NumPy {CURRENT_NUMPY} "
                                 f"starts with {self.needle!r}")
        return within.line(line)

    def link(self) -> str:
        quote = self.quote()
        return f"[`{Path(self.path).name}` L{quote.start}]({quote.url})"


@dataclasses.dataclass(frozen=True)
class Writer:
    what: str  # "the .shape setter"
    lines: Lines  # the write (or the free), in the function whose writes these are
    frees: bool  # does it free or drop an old value, leaving a borrowed pointer dangling?

    @property
    def function(self) -> str | None:
        """The function whose writes these are: the line's, or (a header line) the one the map finds there."""
        return self.lines.function or ownership.function_at(self.lines.path, self.lines.quote().start)

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field the ownership map finds the function writing on an array or dtype it did not make.

        An array's field by its name (``flags``), a dtype's as ``dtype.<field>``.
        Read from the map, never listed here: a list by hand once left out
        ``__setstate__``'s ``mem_handler`` and ``base`` and ``setflags``' ``base``,
        and with them the level of ``PyArray_HANDLER``.
        """
        found = ownership.fields_written().get((self.lines.path, self.function), ())
        return tuple(field.removeprefix("array.") for field in found)


def _getset(function: str, needle: str) -> Lines:
    return Lines(f"{MULTIARRAY}/getset.c", function, needle)


def _methods(function: str, needle: str) -> Lines:
    return Lines(f"{MULTIARRAY}/methods.c", function, needle)


SWAP = "((PyArrayObject_fields *)self)->descr = newd;"
# Each writer's fields are the ownership map's (Writer.fields); what is listed here is one line of its
# function (the free, for one that frees: a Python row that is this writer links it) and whether it frees
# or drops an old value.
WRITERS = (
    Writer("the `.shape` setter (deprecated in 2.5)",
           _getset("array_shape_set_internal", "npy_free_cache_dim_array(self);"), frees=True),
    Writer("the `.strides` setter (deprecated in 2.4)",
           _getset("array_strides_set", "memcpy(PyArray_STRIDES(self)"), frees=False),
    Writer("the `.dtype` setter (deprecated in 2.5)",
           _getset("array_descr_set_internal", "Py_DECREF(PyArray_DESCR(self));"), frees=True),
    Writer("`sort(order=)`", _methods("array_sort", SWAP), frees=True),
    Writer("`argsort(order=)`", _methods("array_argsort", SWAP), frees=True),
    Writer("`partition(kth, order=)`", _methods("array_partition", SWAP), frees=True),
    Writer("`argpartition(kth, order=)`", _methods("array_argpartition", SWAP), frees=True),
    Writer("`PyArray_Resize` (`resize`)",
           Lines(f"{MULTIARRAY}/shape.c", "PyArray_Resize_int",
                 "((PyArrayObject_fields *)self)->data = new_data;"), frees=True),
    # Clears the whole array first (clear_array_attributes: Py_CLEAR of descr, base, mem_handler),
    # then fills it from the pickle.
    Writer("`__setstate__` (unpickling into an existing array)",
           _methods("array_setstate", "if (clear_array_attributes(self) < 0) {"), frees=True),
    Writer("`PyArray_UpdateFlags`",
           Lines(f"{MULTIARRAY}/flagsobject.c", "PyArray_UpdateFlags",
                 "PyArray_ENABLEFLAGS(ret, NPY_ARRAY_WRITEABLE);"), frees=False),
    # setflags(uic=False) drops the array's base.
    Writer("`setflags` (and `flags.writeable =`, which calls it)",
           _methods("array_setflags", "Py_XDECREF(fa->base);"), frees=True),
    Writer("`PyArray_SetBaseObject`",
           Lines(f"{MULTIARRAY}/arrayobject.c", "PyArray_SetBaseObject",
                 "((PyArrayObject_fields *)arr)->base = obj;"), frees=False),
    Writer("`PyArray_ResolveWritebackIfCopy`",
           Lines(f"{MULTIARRAY}/arrayobject.c", "PyArray_ResolveWritebackIfCopy", "fa->base = NULL;"),
           frees=True),
    # A dtype's own fields (named dtype.<field>), written in place on a descriptor that may be shared.
    Writer("the dtype's `.names` setter",
           Lines(f"{MULTIARRAY}/descriptor.c", "arraydescr_names_set", "Py_DECREF(self->names);"),
           frees=True),
    Writer("the dtype's `__setstate__`",
           Lines(f"{MULTIARRAY}/descriptor.c", "arraydescr_setstate", "Py_XDECREF(self->fields);"),
           frees=True),
    Writer("`PyDataType_SET_ELSIZE`",
           Lines(COMPAT_HEADER, None, "_PyDataType_GET_ITEM_DATA(dtype)->elsize = size;"), frees=False),
)


def writers_off_the_map() -> list[str]:
    """The writers the levels rest on that the ownership map finds writing nothing: the build fails on any."""
    return ownership.writers_missing_from_the_map(WRITERS)


def _writer(what: str) -> Writer:
    """The writer whose description starts with *what*."""
    (writer,) = (w for w in WRITERS if w.what.startswith(what))
    return writer


def _python_writer(name: str, what: str, **details) -> Operation:
    """A Python-level operation that is one of the writers: its fields and line are the writer's."""
    writer = _writer(what)
    return placed(name, python=True, wants="writes", fields=writer.fields, lines=(writer.lines,), **details)


def writers_of(fields: tuple[str, ...], *, freeing: bool = False) -> list[Writer]:
    return [w for w in WRITERS if set(w.fields) & set(fields) and (w.frees or not freeing)]


# --- Placing an operation ---------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Shown:
    """A chapter whose build forces the race and asserts it, through one claim of ftbook.claims."""

    chapter: str  # docs path without .md, from docs/: "chapters/family/restore"
    claim: str  # "family_restore.argsort_order_shows_the_swapped_names"

    def check(self) -> str:
        """The claim's first docstring line; fails if the claim or its call from the chapter is gone."""
        module_name, function = self.claim.split(".")
        module = importlib.import_module(f"ftbook.claims.{module_name}")
        claim = getattr(module, function)  # AttributeError: the claim was renamed or removed
        page = Path(__file__).resolve().parent.parent / "docs" / f"{self.chapter}.md"
        if f"{function}(" not in page.read_text():
            raise QuoteError(f"{self.chapter} no longer calls claims {self.claim}")
        return claim.__doc__.strip().splitlines()[0]


@dataclasses.dataclass(frozen=True)
class Operation:
    name: str  # a C identifier, or a Python expression on an array ``a``
    python: bool  # a Python-level operation (not in the .dat file, which is for C names)
    rule: str | None  # a key of RULES; None: no rule applies, the level is unknown
    fields: tuple[str, ...]  # the fields it reads or writes
    lines: tuple[Lines, ...] = ()  # where it does so in today's NumPy
    shown: tuple[Shown, ...] = ()
    note: str = ""

    @property
    def level(self) -> str:
        return RULES[self.rule].level if self.rule else UNKNOWN

    def evidence(self) -> list[Writer]:
        """The writers that put it under its rule; empty (and level unknown) when there are none."""
        if self.rule == "writes":
            return []  # its own lines are the evidence
        return writers_of(self.fields, freeing=self.rule == "borrowed")


def placed(name: str, *, python: bool, wants: str, fields: tuple[str, ...], **details) -> Operation:
    """An operation under rule *wants* ("writes", "borrowed", "reads"), if the writers support it.

    A reader whose fields nobody writes, or a borrowed pointer that nobody
    frees, has no rule: its level is unknown until evidence says otherwise.
    """
    rule = wants
    if wants == "borrowed" and not writers_of(fields, freeing=True):
        rule = "reads"
    if rule == "reads" and not writers_of(fields):
        rule = None
    return Operation(name, python, rule, fields, **details)


# An inline accessor, of an array or a dtype: `static inline <type>\nPyArray_X(...)\n{ body }`.
_INLINE = re.compile(
    r"^[ \t]*static inline (?P<returns>[^\n(]*?)\s*\n"
    r"[ \t]*(?P<head>(?P<name>Py(?:Array|DataType)_[A-Z_]+)\([^)]*\))\s*\n"
    r"[ \t]*\{(?P<body>.*?)\n[ \t]*\}", re.M | re.S)
_FIELD = re.compile(r"_PyArray_GET_ITEM_DATA\(arr\)->(\w+)(\s*[|&]?=(?!=))?")
_CALLS = re.compile(r"\b(PyArray_[A-Z_]+)\(arr\b")


def _wants(writes: bool, returns: str) -> str:
    """The rule an accessor asks for: it writes, it hands out a pointer, or it reads a value."""
    return "writes" if writes else "borrowed" if "*" in returns else "reads"


@cache
def accessors() -> tuple[Operation, ...]:
    """Every ``static inline PyArray_*`` accessor of ``ndarraytypes.h``, placed by the rules."""
    text = "\n".join(source_file("numpy", CURRENT_NUMPY, HEADER).lines)
    matches = {match["name"]: match for match in _INLINE.finditer(text)}

    def fields_of(name: str, seen: frozenset = frozenset()) -> set[str]:
        """The fields *name* touches, and those of the accessors it calls (PyArray_TYPE: PyArray_DESCR's)."""
        body = matches[name]["body"]
        fields = {field for field, _ in _FIELD.findall(body)}
        for called in set(_CALLS.findall(body)) & set(matches) - seen - {name}:
            fields |= fields_of(called, seen | {name})
        return fields

    operations = []
    for name, match in matches.items():
        fields = fields_of(name)
        if not fields:
            continue  # not an accessor of an array's fields
        writes = any(assignment for _, assignment in _FIELD.findall(match["body"]))
        operations.append(placed(name, python=False, wants=_wants(writes, match["returns"]),
                                 fields=tuple(sorted(fields)),
                                 lines=(Lines(HEADER, None, match["head"]),)))
    return tuple(operations)


# The descriptor's accessors: two inline functions, and one line each of the DESCR_ACCESSOR macro,
# ``DESCR_ACCESSOR(NAMES, names, PyObject *, 1)``. The header defines each twice (for NumPy 1.x
# and 2.x builds): the first definition is the 2.x one.
_DESCR_FIELD = re.compile(r"_PyDataType_GET_ITEM_DATA\(dtype\)->(\w+)(\s*=(?!=))?")
_DESCR_MACRO = re.compile(
    r"^(?P<head>DESCR_ACCESSOR\((?P<name>\w+), (?P<field>\w+), (?P<returns>[^,]+),)", re.M)


@cache
def descriptor_accessors() -> tuple[Operation, ...]:
    """The accessors of a dtype's fields in ``npy_2_compat.h``; their fields are named ``dtype.<field>``."""
    text = "\n".join(source_file("numpy", CURRENT_NUMPY, COMPAT_HEADER).lines)
    operations: dict[str, Operation] = {}
    for match in _INLINE.finditer(text):
        uses = _DESCR_FIELD.findall(match["body"])
        if uses and match["name"] not in operations:
            writes = any(assignment for _, assignment in uses)
            fields = tuple(sorted({f"dtype.{field}" for field, _ in uses}))
            operations[match["name"]] = placed(
                match["name"], python=False, wants=_wants(writes, match["returns"]), fields=fields,
                lines=(Lines(COMPAT_HEADER, None, match["head"]),))
    for match in _DESCR_MACRO.finditer(text):
        name = f"PyDataType_{match['name']}"
        operations[name] = placed(name, python=False, wants=_wants(False, match["returns"]),
                                  fields=(f"dtype.{match['field']}",),
                                  lines=(Lines(COMPAT_HEADER, None, match["head"]),))
    return tuple(operations.values())


_ARRAYOBJECT, _SHAPE = f"{MULTIARRAY}/arrayobject.c", f"{MULTIARRAY}/shape.c"
_CONVERT_DATATYPE = f"{MULTIARRAY}/convert_datatype.c"
_NDARRAYOBJECT = "numpy/_core/include/numpy/ndarrayobject.h"
_VIEW_READS_DESCR = Lines(f"{MULTIARRAY}/convert.c", "PyArray_View",
                          "PyArray_Descr *dtype = PyArray_DESCR(self);")
_RESTORE = Shown("chapters/family/restore", "family_restore.argsort_order_shows_the_swapped_names")


@cache
def operations() -> tuple[Operation, ...]:
    """The other C functions and the Python-level operations, each placed by its rule.

    Placed on first use, not at import: the writers' fields come from the ownership map,
    which reads the sdist.
    """
    return (
        placed("PyArray_UpdateFlags", python=False, wants="writes", fields=("flags",),
               lines=(Lines(f"{MULTIARRAY}/flagsobject.c", "PyArray_UpdateFlags",
                            "PyArray_CLEARFLAGS(ret"),)),
        placed("PyArray_SetBaseObject", python=False, wants="writes", fields=("base",),
               lines=(Lines(_ARRAYOBJECT, "PyArray_SetBaseObject", "if (PyArray_BASE(arr) != NULL)"),
                      Lines(_ARRAYOBJECT, "PyArray_SetBaseObject", "->base = obj;")),
               note="checks that `base` is unset, then sets it: two threads can both pass the check"),
        placed("PyArray_Resize", python=False, wants="writes", fields=("data", "dimensions", "strides", "nd"),
               lines=(Lines(_SHAPE, "PyArray_Resize_int", "->data = new_data;"),
                      Lines(_SHAPE, "PyArray_Resize_int", "PyUnstable_Object_IsUniquelyReferenced")),
               note="with `refcheck` (the default), on Python 3.14 and later it refuses an array that is not "
                    "uniquely referenced"),
        placed("PyArray_ResolveWritebackIfCopy", python=False, wants="writes", fields=("base", "flags"),
               lines=(Lines(_ARRAYOBJECT, "PyArray_ResolveWritebackIfCopy", "fa->base = NULL;"),)),
        placed("PyArray_SetWritebackIfCopyBase", python=False, wants="writes", fields=("base", "flags"),
               lines=(Lines(_ARRAYOBJECT, "PyArray_SetWritebackIfCopyBase", "->base = (PyObject *)base;"),
                      Lines(_ARRAYOBJECT, "PyArray_SetWritebackIfCopyBase",
                            "PyArray_CLEARFLAGS(base, NPY_ARRAY_WRITEABLE);")),
               note="clears `WRITEABLE` on `base`, the caller's array, until the copy is resolved or "
                    "discarded (by design, {doc}`/chapters/family/flags`)"),
        placed("PyArray_DiscardWritebackIfCopy", python=False, wants="writes", fields=("base", "flags"),
               lines=(Lines(_NDARRAYOBJECT, "PyArray_DiscardWritebackIfCopy",
                            "PyArray_ENABLEFLAGS((PyArrayObject*)fa->base, NPY_ARRAY_WRITEABLE);"),
                      Lines(_NDARRAYOBJECT, "PyArray_DiscardWritebackIfCopy", "fa->base = NULL;")),
               note="an inline function of `ndarrayobject.h`: sets `WRITEABLE` on the base again and "
                    "drops it"),
        placed("PyArray_Zero", python=False, wants="writes", fields=("flags",),
               lines=(Lines(_CONVERT_DATATYPE, "PyArray_Zero",
                            "PyArray_ENABLEFLAGS(arr, NPY_ARRAY_BEHAVED);"),
                      Lines(_CONVERT_DATATYPE, "PyArray_Zero", "->flags = storeflags;")),
               note="a mutate-then-restore: sets `ALIGNED` and `WRITEABLE` on the array it is handed "
                    "around a `SETITEM`, then writes the saved flags back"),
        placed("PyArray_One", python=False, wants="writes", fields=("flags",),
               lines=(Lines(_CONVERT_DATATYPE, "PyArray_One", "PyArray_ENABLEFLAGS(arr, NPY_ARRAY_BEHAVED);"),
                      Lines(_CONVERT_DATATYPE, "PyArray_One", "->flags = storeflags;")),
               note="as `PyArray_Zero`"),
        placed("PyArray_BroadcastToShape", python=False, wants="writes", fields=("flags",),
               lines=(Lines(f"{MULTIARRAY}/iterators.c", "PyArray_BroadcastToShape",
                            "PyArray_UpdateFlags(ao, NPY_ARRAY_C_CONTIGUOUS);"),),
               note="recomputes the flags of the array it iterates over, which only looks like a read: the "
                    "flag update of `ufunc.at` in {doc}`/chapters/family/flags`"),
        placed("PyArray_RemoveAxesInPlace", python=False, wants="writes",
               fields=("dimensions", "strides", "nd", "flags"),
               lines=(Lines(_SHAPE, "PyArray_RemoveAxesInPlace", "shape[idim_out] = shape[idim];"),
                      Lines(_SHAPE, "PyArray_RemoveAxesInPlace", "fa->nd = idim_out;")),
               note="NumPy's own callers pass an array they just made"),
        placed("PyArray_Newshape", python=False, wants="reads",
               fields=("dimensions", "strides", "flags", "descr"),
               lines=(Lines(_SHAPE, "_reshape_with_copy_arg", "PyArray_DIM(array, i)"),)),
        placed("PyArray_View", python=False, wants="reads",
               fields=("descr", "dimensions", "strides", "flags"),
               lines=(_VIEW_READS_DESCR,)),
        placed("PyArray_DescrHash", python=False, wants="reads",
               fields=("dtype.names", "dtype.fields", "dtype.hash"),
               lines=(Lines(f"{MULTIARRAY}/hashdescr.c", "PyArray_DescrHash", "atomic_store_explicit("),),
               note="the hash it caches is loaded and stored atomically; the fields it hashes are not"),
        _python_writer("a.shape = s", "the `.shape` setter"),
        _python_writer("a.strides = s", "the `.strides` setter"),
        _python_writer("a.dtype = t", "the `.dtype` setter",
               shown=(Shown("chapters/family/dtype-setter",
                            "family_dtype_setter.result_type_beside_a_view_is_clean"),
                      Shown("chapters/other-writers", "other_writers.setter_window_shows_a_torn_array"))),
        placed("a.flags.writeable = b", python=True, wants="writes", fields=("flags",),
               lines=(Lines(f"{MULTIARRAY}/flagsobject.c", "arrayflags_writeable_set", '"setflags"'),
                      _methods("array_setflags", "fa->flags = flagback;")),
               note="[numpy/numpy#30540](https://github.com/numpy/numpy/issues/30540), open"),
        _python_writer("a.setflags(...)", "`setflags`",
               shown=(Shown("chapters/family/flags",
                            "family_flags.refused_setflags_undoes_writeable_false"),)),
        _python_writer("a.resize(...)", "`PyArray_Resize`"),
        _python_writer("a.sort(order=...)", "`sort(order=)`"),
        _python_writer("a.argsort(order=...)", "`argsort(order=)`",
               shown=(_RESTORE,)),
        _python_writer("a.partition(kth, order=...)", "`partition(kth, order=)`"),
        _python_writer("a.argpartition(kth, order=...)", "`argpartition(kth, order=)`"),
        placed("a.view(t)", python=True, wants="reads", fields=("descr", "dimensions", "strides", "flags"),
               lines=(_VIEW_READS_DESCR,),
               shown=(Shown("chapters/other-writers", "other_writers.view_leaves_the_shared_array_whole"),)),
        _python_writer("a.dtype.names = n", "the dtype's `.names` setter",
                       note="renames the fields of a dtype that every array of that dtype shares"),
        placed("hash(a.dtype)", python=True, wants="reads",
               fields=("dtype.names", "dtype.fields", "dtype.hash"),
               lines=(Lines(f"{MULTIARRAY}/hashdescr.c", "PyArray_DescrHash", "atomic_load_explicit("),)),
        placed("memoryview(a)", python=True, wants="reads",
               fields=("dimensions", "strides", "descr", "flags"),
               lines=(Lines(f"{MULTIARRAY}/buffer.c", "array_getbuffer",
                            "Py_BEGIN_CRITICAL_SECTION(self);"),),
               note="the buffer-info cache it fills is written under the array's critical section since "
                    "2.4.2 ([#30648](https://github.com/numpy/numpy/issues/30648)); the dims, strides and "
                    "dtype it reads are not"),
    )


def annotated_rows() -> list[Operation]:
    """The accessors, then the other C functions, then the Python-level operations; each checked."""
    c_functions = [op for op in operations() if not op.python]
    rows = [*accessors(), *descriptor_accessors(), *c_functions, *(op for op in operations() if op.python)]
    for rule in RULES.values():
        rule.check()
    for row in rows:
        for lines in row.lines:
            lines.quote()
        for shown in row.shown:
            shown.check()
    return rows


# --- Is every writer of NumPy's C API in the table? ------------------------------------------

API_LIST = "numpy/_core/code_generators/numpy_api.py"
PUBLIC_HEADERS = "numpy/_core/include/numpy/"
# C API functions that write metadata and that the three rules are not about, each with the reason.
OUT_OF_SCOPE = {
    "PyArray_RegisterDataType": "registers a new user dtype: it writes the type number of a descriptor "
                                "already in NumPy's process-wide table of user types, and that table",
}


def api_writers(version: str = CURRENT_NUMPY) -> dict[str, set[str]]:
    """The functions of NumPy's C API (``numpy_api.py``, or inline in a public header) that the
    ownership map finds writing a field of an object they did not make, with the fields.

    A write the map judges unreachable, or in a test module, is left out.
    """
    api = "\n".join(source_file("numpy", version, API_LIST).lines)
    names = set(re.findall(r"^\s*'(\w+)':\s*\(", api, re.M))
    found: dict[str, set[str]] = {}
    for site in ownership.sites(version):
        if site.made_at is not None or not (site.function in names or site.path.startswith(PUBLIC_HEADERS)):
            continue
        judgement = ownership.judgement_of(site)
        if judgement is not None and judgement.verdict in ("unreachable", "test module"):
            continue
        found.setdefault(site.function, set()).add(site.field)
    return found


def api_writers_missing(rows: list[Operation], version: str = CURRENT_NUMPY) -> list[str]:
    """The C API's writers (:func:`api_writers`) that are neither a C row nor :data:`OUT_OF_SCOPE`,
    and the C rows that write a field no writer of :data:`WRITERS` writes (their readers' levels
    would then rest on a writer the page does not name)."""
    c_rows = {row.name: row for row in rows if not row.python}
    missing = [f"{name} writes {', '.join(sorted(fields))} but is not in the table"
               for name, fields in sorted(api_writers(version).items())
               if name not in c_rows and name not in OUT_OF_SCOPE]
    written = {field for writer in WRITERS for field in writer.fields}
    missing += [f"{row.name} writes {', '.join(sorted(set(row.fields) - written))}, which no writer "
                f"of WRITERS writes" for row in c_rows.values()
                if row.rule == "writes" and set(row.fields) - written]
    return missing


# --- The download -----------------------------------------------------------------------------

def dat_text(rows: list[Operation]) -> str:
    """The C rows in CPython's threadsafety.dat format; Python rows and unknown levels as comments."""
    out = [
        f"# Thread safety annotations for NumPy {CURRENT_NUMPY}'s array-metadata C API,",
        f"# in the levels of CPython {CPYTHON} ({LEVELS_DOC}), in the format of its {LEVELS_DAT}:",
        "#   function_name : level :",
        "# Each level was placed from NumPy's released sources when this file was built;",
        "# a function whose level is unknown is commented out.",
        "",
    ]
    for row in rows:
        if row.python:
            continue
        reason = RULES[row.rule].says if row.rule else "no evidence found: level unknown"
        out.append(f"# {reason}")
        entry = f"{row.name}:{row.level}:"
        out += [entry if row.rule else f"# {entry}", ""]
    python_rows = [row for row in rows if row.python]
    out.append("# Python-level operations (not C identifiers, so listed only as comments):")
    out += [f"#   {row.name}: {row.level}" for row in python_rows]
    return "\n".join(out) + "\n"


# --- Rendering (the chapter's output cells) ---------------------------------------------------

def _dat_link(annotation: Annotation) -> str:
    url = source_file("cpython", CPYTHON, LEVELS_DAT).url.split("#")[0] + f"#L{annotation.line}"
    return f"[`{annotation.name}`]({url})"


def rules_table() -> str:
    from ftbook.tables import markdown_table

    rows = []
    for rule in RULES.values():
        precedents = "<br>".join(f"{_dat_link(a)}: {' '.join(a.why)}" for a in rule.check())
        rows.append([rule.says, f"**{rule.level}**", precedents])
    header = ["an operation that ...", "level", f"CPython {CPYTHON}'s own functions at that level, and why"]
    return markdown_table(header, rows)


def legend_table(rows: list[Operation]) -> str:
    """Each level this page gives, in plain words: the rule, the rows it places, the two questions."""
    from ftbook.tables import markdown_table

    table = []
    for key in ("reads", "borrowed", "writes", None):
        rule = RULES[key] if key else None
        placed_here = [row for row in rows if row.rule == key]
        if not placed_here:
            continue
        examples = ", ".join(f"`{row.name}`" for row in placed_here[:3])
        level = f"**{rule.level}**" if rule else f"**{UNKNOWN}**"
        says = rule.says if rule else UNKNOWN_SAYS
        table.append([level, f"{says} ({len(placed_here)} rows: {examples}, ...)", *plain_words(key)])
    return markdown_table(["level", "an operation that ...", *PLAIN_HEADER], table)


def row_named(rows: list[Operation], name: str) -> Operation:
    """The row called *name*; the build stops if there is none."""
    found = [row for row in rows if row.name == name]
    if len(found) != 1:
        raise QuoteError(f"{len(found)} rows are called {name!r}")
    return found[0]


def key_rows_table(rows: list[Operation], names: tuple[str, ...]) -> str:
    """A few rows by name: the operation, its level, and the level in plain words."""
    from ftbook.tables import markdown_table

    table = [[f"`{row.name}`", f"**{row.level}**", *plain_words(row.rule)]
             for row in (row_named(rows, name) for name in names)]
    return markdown_table(["operation", "level", *PLAIN_HEADER], table)


def levels_table(rows: list[Operation]) -> str:
    from ftbook.tables import markdown_table

    table = [[f"`{row.name}`", f"**{row.level}**", *plain_words(row.rule),
              ", ".join(f"`{f}`" for f in row.fields), " ".join(lines.link() for lines in row.lines),
              ", ".join(f"{{doc}}`/{s.chapter}`" for s in row.shown) + (f" {row.note}" if row.note else "")]
             for row in rows]
    return markdown_table(["operation", "level", *PLAIN_HEADER, "fields", "where", "shown, and notes"], table)
