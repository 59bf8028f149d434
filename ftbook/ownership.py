"""The metadata ownership map: every place today's NumPy writes a field of an array or a dtype.

An array's metadata is the fields of ``PyArrayObject_fields`` (``nd``,
``dimensions``, ``strides``, ``descr``, ``flags``, ``base``, the
buffer-info cache ...) and a dtype's the fields of ``PyArray_Descr`` and of
``_PyArray_LegacyDescr`` (``byteorder``, ``elsize``, ``hash``, ``names``
...). Both structs are read from today's ``ndarraytypes.h``; then every C
and C++ file of the sdist is scanned for the places that write one of those
fields, and each place is judged:

- **made here**: the object was created earlier in the same function (a
  call of one of :data:`CREATORS`, directly or through a cast), so no other
  thread can hold it yet. Decided by the scan, with the line that made it.
- **judged**: every other place has an entry in :data:`JUDGEMENTS`, keyed
  by function and field (and, for a function that writes a shared object
  and a private one, by object), saying who can see the object while it is
  written and why that is, or is not, safe.

:func:`sites` returns the places; :func:`unjudged` the ones with neither,
and the chapter's build fails on any of those, so a new NumPy release
cannot slip a new writer past the book. How each write is synchronised
(nothing, an atomic store, a critical section, a lock) is read from the
code around it, not judged.

A write through a name the function points at an array's dims or strides
(``npy_intp *shape = fa->dimensions``, ``*newdims = PyArray_DIMS(self)``
for an out-parameter) is followed to the array, from the last assignment
of the name before the write.

It is a lexical scan, like the book's checker, and shares its blind spots:
no macro is expanded except the writers named in :data:`WRITER_CALLS`, and
a write through a pointer the function did not name as one of the two
structs (a ``void *``, a pointer handed in through another struct) is not
seen.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from ftbook.provision.sources import CURRENT_NUMPY, sdist_dir
from ftbook.quote import TAG_URL

HEADER = "numpy/_core/include/numpy/ndarraytypes.h"
# Which struct a C type names: the array's fields, or a dtype's (the legacy struct adds names, fields ...).
STRUCTS = {"PyArrayObject_fields": "array", "PyArray_Descr": "dtype", "PyArray_Descr_fields": "dtype",
           "_PyArray_LegacyDescr": "dtype", "_PyArray_LegacyDescr_fields": "dtype"}
# Macros and accessors that return the struct of their argument: writing a field through one writes it.
STRUCT_OF = {"_PyArray_GET_ITEM_DATA": "array", "_PyDataType_GET_ITEM_DATA": "dtype",
             "_PyArray_LegacyDescr_GET_ITEM_DATA": "dtype",
             "PyArray_DESCR": "dtype", "PyArray_DTYPE": "dtype"}  # an array's descriptor: a dtype's fields
SUFFIXES = (".c", ".cpp", ".h", ".hpp", ".c.src", ".h.src", ".cpp.src")

# Calls that return an object nobody else holds yet: a new array, a new (copied) descriptor, raw allocation.
# Not PyArray_DescrFromType and its kin: they return shared, process-wide descriptors.
CREATORS = re.compile(r"""
    PyArray_NewFromDescr\w* | PyArray_New | PyArray_NewLikeArray\w* | PyArray_SimpleNew\w*
  | PyArray_Empty\w* | PyArray_Zeros\w* | PyArray_NewCopy | PyArray_View
  | PyArray_DescrNew | PyArray_DescrNewFromType | PyArray_DescrNewByteorder | new_stringdtype_instance
  | PyObject_New | PyObject_GC_New | PyObject_Malloc | PyArray_malloc | [\w.]+(?:->|\.)tp_(?:alloc|new)
""", re.X)
# Statements that make *name* refer to a new object: "name = CREATOR(...)" (through a cast or not),
# PyArray_DESCR_REPLACE(name) (a copy of the descriptor: the copy-modify fix), or the address of a
# struct on the function's own stack ("dummy = (PyArrayObject *)&dummy_fields").
_MADE = r"""
    \b{name}\s*=(?!=)\s*(?:\(\s*\w+\s*\*\s*\)\s*)?(?:(?P<call>[\w.>\-]+)\s*\(|&\s*(?P<stack>\w+)\s*;)
  | \bPyArray_DESCR_REPLACE\s*\(\s*(?P<copied>{name})\s*\)
"""

ASSIGN_OPERATOR = r"(?:[-+*/%&|^]|<<|>>)?=(?!=)|\+\+|--"
# Functions and macros that write a field of the object named by their first argument.
WRITER_CALLS = {
    "PyArray_ENABLEFLAGS": ("array", "flags"),
    "PyArray_CLEARFLAGS": ("array", "flags"),
    "PyArray_UpdateFlags": ("array", "flags"),
    "PyDataType_SET_ELSIZE": ("dtype", "elsize"),
}
# Accessors whose result points into the array itself: writing through them writes the array's field.
POINTING_ACCESSORS = {"PyArray_DIMS": "dimensions", "PyArray_SHAPE": "dimensions",
                      "PyArray_STRIDES": "strides"}

SYNC_OPENERS = {  # a write between an opener and its closer is synchronised by it
    "critical section": ("Py_BEGIN_CRITICAL_SECTION", "Py_END_CRITICAL_SECTION"),
    "PyMutex": ("PyMutex_Lock", "PyMutex_Unlock"),
}


@dataclasses.dataclass(frozen=True)
class Site:
    """One place in the sdist that writes one field of an array or a dtype."""

    path: str  # numpy/_core/src/multiarray/getset.c
    line: int
    function: str  # the enclosing function ("" at file scope)
    owner: str  # "array" or "dtype"
    field: str  # "flags", "dimensions" (the dims pointer or the values it points to) ...
    obj: str  # the expression written through: "self", "PyArray_DIMS(aop)"
    how: str  # "assignment", "element", "call of PyArray_ENABLEFLAGS", "copy into", "atomic store"
    code: str  # the statement's first line, as in the source
    synchronised: str  # "none", "atomic", "critical section", "PyMutex"
    made_at: int | None  # the line that created the object, when the function did

    @property
    def key(self) -> tuple[str, str]:
        return self.function, f"{self.owner}.{self.field}"

    def url(self, version: str = CURRENT_NUMPY) -> str:
        return line_url(self.path, self.line, version)


def line_url(path: str, line: int, version: str = CURRENT_NUMPY) -> str:
    """One line of NumPy *version*, at its release tag."""
    return TAG_URL["numpy"].format(version=version, path=path, start=line, end=line).removesuffix(f"-L{line}")


# --- The structs ---------------------------------------------------------------------------------

def _code_only(text: str) -> str:
    """*text* with comments and string and character literals blanked out; lines and columns kept."""
    def blank(match: re.Match) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    return re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', blank, text, flags=re.S)


def _struct_body(header: str, opening: str, *closings: str) -> str:
    """The body of the struct that ends with the first of *closings* found in *header*."""
    end = next(header.index(closing) for closing in closings if closing in header)
    return header[header.rindex(opening, 0, end) + len(opening):end]


def _field_names(body: str) -> tuple[str, ...]:
    names = []
    for line in body.splitlines():
        line = line.strip()
        if line.startswith("#") or "PyObject_HEAD" in line or not line.endswith(";"):
            continue
        names.append(re.search(r"(\w+)\s*(?:\[[^\]]*\])?\s*;$", line).group(1))
    return tuple(names)


@cache
def struct_fields(version: str = CURRENT_NUMPY) -> dict[str, tuple[str, ...]]:
    """The fields of the array struct and of the two dtype structs, in *version*'s ``ndarraytypes.h``."""
    header = _code_only((sdist_dir(version) / HEADER).read_text())
    return {
        "PyArrayObject_fields": _field_names(_struct_body(header, "typedef struct tagPyArrayObject_fields {",
                                                          "} PyArrayObject_fields;")),
        "PyArray_Descr": _field_names(_struct_body(header, "typedef struct _PyArray_Descr {",
                                                   "} PyArray_Descr_fields;")),
        "_PyArray_LegacyDescr": _field_names(_struct_body(header, "typedef struct {",
                                                          "} _PyArray_LegacyDescr_fields;",  # 2.5
                                                          "} _PyArray_LegacyDescr;")),
    }


def fields_of(owner: str, version: str = CURRENT_NUMPY) -> tuple[str, ...]:
    """Every field an *owner* ("array" or "dtype") has, in the header's order, without repeats."""
    found = struct_fields(version)
    names = [name for struct, names in found.items() if STRUCTS[struct] == owner for name in names]
    return tuple(dict.fromkeys(names))


# --- Functions in a file -------------------------------------------------------------------------

_FUNCTION_HEAD = re.compile(r"([\w@]+)\s*\((?:[^()]|\([^()]*\))*\)\s*(?:const\s*)?(?:noexcept\s*)?$")
_TRANSPARENT = re.compile(r"(?:namespace(?:\s+\w+)?|extern)\s*$")  # extern "C": the string was blanked
_NOT_FUNCTIONS = {"if", "for", "while", "switch", "return", "sizeof", "defined"}


def _first_branches(code: str) -> str:
    """*code* with every ``#else``/``#elif`` branch blanked (lines kept): what the braces are counted on.

    ``#if A / struct x { / #else / struct y { / #endif`` opens one brace in
    the compiled code but two in the text; counting both would swallow the
    rest of the file. Writes are still searched for in every branch.
    """
    kept, skipping = [], []  # per open #if: is the current branch one after the first?
    for line in code.split("\n"):
        directive = re.match(r"\s*#\s*(if|ifdef|ifndef|elif|else|endif)\b", line)
        if directive:
            word = directive.group(1)
            if word.startswith("if"):
                skipping.append(False)
            elif word == "endif" and skipping:
                skipping.pop()
            elif skipping:
                skipping[-1] = True
            kept.append(line)
            continue
        kept.append(" " * len(line) if any(skipping) else line)
    return "\n".join(kept)


def _match_brace(code: str, opening: int) -> int:
    depth = 0
    for index in range(opening, len(code)):
        if code[index] == "{":
            depth += 1
        elif code[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return len(code)


def functions(code: str) -> Iterator[tuple[str, int, int, int]]:
    """(name, start of its signature, its "{", its "}") for each function defined at file scope in *code*.

    Namespaces and ``extern "C"`` blocks are looked into; other top-level
    blocks (struct bodies, initialisers) are skipped whole.
    """
    position, statement_start = 0, 0
    while True:
        opening = code.find("{", position)
        if opening < 0:
            return
        before = code[statement_start:opening]
        head = re.sub(r"^\s*#[^\n]*$", "", before, flags=re.M).strip()  # preprocessor lines are not a head
        if _TRANSPARENT.search(head):
            position = statement_start = opening + 1
            continue
        closing = _match_brace(code, opening)
        named = _FUNCTION_HEAD.search(head)
        if named and named.group(1) not in _NOT_FUNCTIONS and "=" not in head.split("(")[0]:
            yield named.group(1), statement_start, opening, closing
        position = closing + 1
        following = re.match(r"[^;{}]*;", code[position:])  # "} name;" or "};" closes a declaration
        statement_start = position = position + (following.end() if following else 0)
        # A closing brace of a namespace we entered: start the next statement after it.
        while True:
            stray = re.match(r"\s*}\s*;?", code[position:])
            if not stray:
                break
            statement_start = position = position + stray.end()


# --- Writes in a function ------------------------------------------------------------------------

_TYPE_NAMES = "|".join(map(re.escape, STRUCTS))
_DECLARED = re.compile(rf"\b({_TYPE_NAMES})\s*\*\s*(\w+)")
_MORE_DECLARED = re.compile(r"\s*(?:=[^,;(){}]*)?,\s*\*\s*(\w+)")
_OBJECT = rf"""
    # ((T *)x) and ((T *)(x))
    \(\s*\(\s*(?P<cast>{_TYPE_NAMES})\s*\*\s*\)\s*\(?\s*(?P<castee>[\w.\->]+?)\s*\)?\s*\)
  | (?P<accessor>{'|'.join(STRUCT_OF)})\s*\(\s*(?P<inner>[\w.\->()*\s]+?)\s*\)  # PyArray_DESCR(x)
  | (?P<name>\b\w+)                                                             # fa, descr
"""
_FIELD_WRITE = re.compile(rf"(?:{_OBJECT})\s*->\s*(?P<field>\w+)(?P<element>\s*\[[^\]]*\])?\s*"
                          rf"(?P<op>{ASSIGN_OPERATOR})", re.X)
_CAST = r"\(\s*\w+\s*\*\s*\)\s*"  # (PyArrayObject *)
_POINTED_WRITE = re.compile(rf"\b(?P<accessor>{'|'.join(POINTING_ACCESSORS)})"
                            rf"\s*\(\s*(?:{_CAST})?(?P<array>[^()]+?)\s*\)"
                            rf"\s*\[[^\]]*\]\s*(?P<op>{ASSIGN_OPERATOR})")
_COPY_INTO = re.compile(rf"\b(?:memcpy|memmove|memset)\s*\(\s*(?:(?P<accessor>{'|'.join(POINTING_ACCESSORS)})"
                        rf"\s*\(\s*(?:{_CAST})?(?P<array>[^()]+?)\s*\)|(?P<name>\w+)\s*->\s*(?P<field>dimensions|strides))")
# PyArray_ENABLEFLAGS(a, ...), (PyArrayObject *)a, and ((PyArrayObject *)fa->base) wrapped in parentheses.
_WRITER_CALL = re.compile(rf"\b(?P<call>{'|'.join(WRITER_CALLS)})\s*\(\s*"
                          rf"(?:\(\s*(?:{_CAST})?(?P<wrapped>[^,()]+?)\s*\)|(?:{_CAST})?(?P<obj>[^,()]+?))\s*,")
# A pointer to an array's dims or strides kept in a name of the function's: "npy_intp *shape =
# fa->dimensions", "d = PyArray_DIMS(a) + 1", or an out-parameter, "*newdims = PyArray_DIMS(self)". What
# the name is made to point at, the array and its field (a cast, an accessor, or a name typed as the array).
_POINTER_SOURCE = rf"""
    (?P<accessor>{'|'.join(POINTING_ACCESSORS)})\s*\(\s*(?:{_CAST})?(?P<array>[^()]+?)\s*\)
  | \(\s*\(\s*(?P<cast>{_TYPE_NAMES})\s*\*\s*\)\s*(?P<castee>\w+)\s*\)
    \s*->\s*(?P<cast_field>dimensions|strides)\b
  | (?P<name>\w+)\s*->\s*(?P<field>dimensions|strides)\b(?!\s*\[)
"""
# "name = " or "*name = " (not "a->name =", "a.name =", "name =="), and what follows the "=".
_POINTER_ASSIGNED = re.compile(r"(?<![\w>.])(?P<deref>\*\s*)?(?P<pointer>\w+)\s*=(?!=)\s*"
                               r"(?:\(\s*\w+\s*\*\s*\)\s*)?")
# A write through such a name: "shape[i] = ...", "(*newdims)[i] = ...", or a copy into it.
_HAS_POINTER_SOURCE = re.compile(rf"\b(?:{'|'.join(POINTING_ACCESSORS)})\b|->\s*(?:dimensions|strides)\b")
_THROUGH_POINTER = re.compile(rf"(?<![\w>.*])(?:(?P<pointer>\w+)|\(\s*\*\s*(?P<out>\w+)\s*\))\s*\[[^\]]*\]\s*"
                              rf"(?P<op>{ASSIGN_OPERATOR})"
                              rf"|\b(?:memcpy|memmove|memset)\s*\(\s*(?P<copied>\w+)\s*,")
# &x->field given to a call or a pointer: whoever receives it may write the field (the buffer-info cache).
_ADDRESS_TAKEN = re.compile(rf"[(,=]\s*&\s*(?:{_OBJECT})\s*->\s*(?P<field>\w+)\b(?!\s*[\[.])", re.X)
_ATOMIC_STORE = re.compile(r"\b\w*atomic_store\w*\s*\([^;]*?&\s*(?P<obj>\w+)\s*->\s*(?:base\s*\.\s*)?"
                           r"(?P<field>hash)\b")  # a descriptor's, or the one embedded in StringDType's


class _Function:
    """One function's code, with what the scan needs to know about its names."""

    def __init__(self, name: str, code: str, start: int, end: int, line_at):
        self.name, self.start, self.line_at = name, start, line_at
        self.text = code[start:end]  # signature and body
        self.types = self._declared_types()

    def _declared_types(self) -> dict[str, str]:
        """The names this function declares (parameters included) as one of the structs, and which."""
        types = {}
        for match in _DECLARED.finditer(self.text):
            types[match.group(2)] = STRUCTS[match.group(1)]
            position = match.end()
            while more := _MORE_DECLARED.match(self.text, position):
                types[more.group(1)] = STRUCTS[match.group(1)]
                position = more.end()
        return types

    def object_of(self, match: re.Match) -> tuple[str | None, str]:
        """Whose field an :data:`_OBJECT` match writes ("array", "dtype" or None: neither) and the object."""
        if match.group("cast"):
            return STRUCTS[match.group("cast")], match.group("castee")
        if match.group("accessor"):
            return STRUCT_OF[match.group("accessor")], match.group("inner")
        return self.types.get(match.group("name")), match.group("name")

    def pointed_at(self, pointer: str, *, deref: bool, before: int) -> tuple[str, str, str] | None:
        """What *pointer* (``*pointer``, for an out-parameter) points into at offset *before*, if the dims or
        strides of an array: (the array, "dimensions" or "strides", how it was reached), from the last
        assignment before. Lexical: the last assignment in the text, whichever branch it is in."""
        last = None
        for match in _POINTER_ASSIGNED.finditer(self.text, 0, before - self.start):
            if match.group("pointer") != pointer:
                continue
            starred = bool(match.group("deref"))
            if starred:  # "npy_intp *shape = ...", "..., *strides = ...": a declaration, not a dereference
                ahead = self.text[:match.start()].rstrip()
                starred = not (ahead.endswith(",") or re.search(r"\w$", ahead))
            if starred == deref:
                last = match
        if last is None:
            return None
        source = re.compile(_POINTER_SOURCE, re.X).match(self.text, last.end())
        if source is None:
            return None
        if source.group("accessor"):
            accessor = source.group("accessor")
            return source.group("array"), POINTING_ACCESSORS[accessor], accessor
        if source.group("cast"):
            if STRUCTS[source.group("cast")] != "array":
                return None
            return source.group("castee"), source.group("cast_field"), f"->{source.group('cast_field')}"
        if self.types.get(source.group("name")) != "array":
            return None
        return source.group("name"), source.group("field"), f"->{source.group('field')}"

    def made_at(self, name: str, before: int) -> int | None:
        """The line where *name* was last made to refer to a new object before offset *before*, if it was."""
        name = re.escape(name.strip())
        made = list(re.finditer(_MADE.format(name=name), self.text[:before - self.start], re.X))
        if made and (made[-1].group("copied") or made[-1].group("stack")
                     or CREATORS.fullmatch(made[-1].group("call") or "")):
            return self.line_at(self.start + made[-1].start())
        # An alias: "PyArrayObject_fields *fa = (PyArrayObject_fields *)ret;" made where ret was.
        alias = re.search(rf"\b{name}\s*=\s*\(\s*(?:{_TYPE_NAMES})\s*\*\s*\)\s*(\w+)\s*;", self.text)
        if alias and alias.group(1) != name:
            return self.made_at(alias.group(1), self.start + alias.start())
        return None

    def synchronised(self, at: int) -> str:
        before = self.text[:at - self.start]
        for what, (opener, closer) in SYNC_OPENERS.items():
            opened = len(re.findall(rf"\b{opener}\w*\s*\(", before))
            if opened > len(re.findall(rf"\b{closer}\w*\s*\(", before)):
                return what
        return "none"


def _line_index(text: str):
    starts = [0, *(m.end() for m in re.finditer("\n", text))]

    def line_at(offset: int) -> int:
        low, high = 0, len(starts)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if starts[middle] <= offset else (low, middle)
        return low + 1

    return line_at


# A write can only be found where one of these words is: a struct's name (in a cast or a declaration),
# an accessor, a writer, an atomic store. A file or function without any is skipped unread.
_TRIGGER = re.compile(r"\b(?:" + "|".join([*STRUCTS, *STRUCT_OF, *WRITER_CALLS, *POINTING_ACCESSORS]) + r")\b"
                      r"|atomic_store")


def file_sites(path: str, text: str, version: str = CURRENT_NUMPY) -> list[Site]:
    """The writes of array and dtype fields in one file's *text* (*path* relative to the sdist)."""
    if not _TRIGGER.search(text):
        return []
    code = _code_only(text)
    lines = text.splitlines()
    line_at = _line_index(code)
    fields = {owner: set(fields_of(owner, version)) for owner in ("array", "dtype")}
    found: list[Site] = []

    def add(function, at, owner, field, obj, how, synchronised=None):
        line = line_at(at)
        made = function.made_at(obj, at) if re.fullmatch(r"\w+(?:\[\w+\])?", obj.strip()) else None
        found.append(Site(path, line, function.name, owner, field, obj.strip(), how, lines[line - 1].strip(),
                          synchronised or function.synchronised(at), made))

    for name, head, start, end in functions(_first_branches(code)):
        if not _TRIGGER.search(code, head, end):
            continue
        function = _Function(name, code, head, end, line_at)  # writes are searched for in the body only
        for match in _FIELD_WRITE.finditer(code, start, end):
            owner, obj = function.object_of(match)
            if owner is not None and match.group("field") in fields[owner]:
                how = "element" if match.group("element") else "assignment"
                add(function, match.start(), owner, match.group("field"), obj, how)
        for match in _ADDRESS_TAKEN.finditer(code, start, end):
            owner, obj = function.object_of(match)
            # Not an atomic load's or store's argument: the store is a site of its own, the load reads.
            in_atomic = re.search(r"atomic_\w+\s*\([^;]*$", code[max(start, match.start() - 80):match.end()])
            if owner is not None and match.group("field") in fields[owner] and not in_atomic:
                ampersand = code.index("&", match.start())
                add(function, ampersand, owner, match.group("field"), obj, "address handed on")
        for match in _POINTED_WRITE.finditer(code, start, end):
            add(function, match.start(), "array", POINTING_ACCESSORS[match.group("accessor")],
                match.group("array"), f"element through {match.group('accessor')}")
        for match in _COPY_INTO.finditer(code, start, end):
            if match.group("accessor"):
                add(function, match.start(), "array", POINTING_ACCESSORS[match.group("accessor")],
                    match.group("array"), f"copy into {match.group('accessor')}")
            elif function.types.get(match.group("name")) == "array":
                add(function, match.start(), "array", match.group("field"), match.group("name"), "copy into")
        for match in _WRITER_CALL.finditer(code, start, end):
            owner, field = WRITER_CALLS[match.group("call")]
            add(function, match.start(), owner, field, match.group("obj") or match.group("wrapped"),
                f"call of {match.group('call')}")
        if _HAS_POINTER_SOURCE.search(code, start, end):
            for match in _THROUGH_POINTER.finditer(code, start, end):
                out = match.group("out")
                pointed = function.pointed_at(out or match.group("pointer") or match.group("copied"),
                                              deref=bool(out), before=match.start())
                if pointed:
                    obj, field, source = pointed
                    how = "copy into" if match.group("copied") else ("element through an out-parameter" if out
                                                                     else "element through a pointer")
                    add(function, match.start(), "array", field, obj, f"{how} from {source}")
        for match in _ATOMIC_STORE.finditer(code, start, end):
            add(function, match.start(), "dtype", match.group("field"), match.group("obj"), "atomic store",
                synchronised="atomic")
    return sorted(found, key=lambda site: site.line)


def source_files(version: str = CURRENT_NUMPY) -> list[Path]:
    root = sdist_dir(version)
    return sorted(p for p in (root / "numpy").rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))


@cache
def sites(version: str = CURRENT_NUMPY) -> tuple[Site, ...]:
    """Every write of an array's or a dtype's field in NumPy *version*'s sdist, file by file."""
    root = sdist_dir(version)
    found = []
    for path in source_files(version):
        found.extend(file_sites(path.relative_to(root).as_posix(), path.read_text(errors="replace"), version))
    return tuple(found)


@cache
def fields_written(version: str = CURRENT_NUMPY) -> dict[tuple[str, str], tuple[str, ...]]:
    """``{(path, function): fields}``: what each function writes on an object it did not make.

    Fields as the map names them (``array.flags``, ``dtype.names``), in the
    order of their first write. :mod:`ftbook.levels` takes its writers'
    fields from here.
    """
    found: dict[tuple[str, str], dict[str, None]] = {}
    for site in sites(version):
        if site.made_at is None:
            found.setdefault((site.path, site.function), {})[f"{site.owner}.{site.field}"] = None
    return {key: tuple(fields) for key, fields in found.items()}


def function_at(path: str, line: int, version: str = CURRENT_NUMPY) -> str | None:
    """The function of the write the map finds at *path* line *line*; None if it finds none there."""
    return next((site.function for site in sites(version) if (site.path, site.line) == (path, line)), None)


# --- Judgements ----------------------------------------------------------------------------------

# What a judged write is, from the point of view of another thread holding the object. The first
# four are safe by construction or by synchronisation; the rest are writes another thread can race.
MADE_HERE = "made here"
VERDICTS = {
    MADE_HERE: "the function made the object (line linked): no other thread can hold it yet",
    "new object": "an object just made (by the function, in a way the scan cannot see, or by every caller) "
                  "that nobody else holds yet",
    "teardown": "the object is being freed: no other reference is left",
    "scratch copy": "the temporary copy WRITEBACKIFCOPY makes of an array: only the code that made it holds "
                    "it",
    "synchronised": "an atomic store or a critical section orders the writers",
    "the writer itself": "the macro or function that does the write: its call sites are listed separately",
    "deprecated setter": "a Python-level setter, deprecated: writes an object any thread may hold",
    "in place, by design": "writes, in place, the object it is called on; nothing orders it",
    "mutate-then-restore": "writes a field of the caller's object and writes the old value back later",
    "shared flag update": "updates the flags of an array other threads may hold, on a path that does not "
                          "look like a write of them",
    "shared descriptor": "writes a descriptor the function did not make, which other threads may hold",
    "process-wide": "writes process-wide state, unsynchronised",
    "unreachable": "cannot run in this release",
    "test module": "in a module of NumPy's own tests",
}
SAFE = (MADE_HERE, "new object", "teardown", "scratch copy", "synchronised", "the writer itself",
        "unreachable", "test module")


@dataclasses.dataclass(frozen=True)
class Judgement:
    """Why a function's writes of *fields* are safe, or are not: one of :data:`VERDICTS`, and the reason."""

    verdict: str
    fields: tuple[str, ...]  # "array.flags", "dtype.hash": a new field written by the function is unjudged
    why: str
    shown: str = ""  # the chapter (and section) of the book that shows the case, if one does
    # Only the writes through these objects, as the scan names them ("fa->base"); () is every object. For a
    # function that writes one object another thread may hold and one nobody else holds (WRITEBACKIFCOPY).
    objects: tuple[str, ...] = ()

    def __post_init__(self):
        assert self.verdict in VERDICTS, self.verdict

    def covers(self, site: Site) -> bool:
        return f"{site.owner}.{site.field}" in self.fields and (not self.objects or site.obj in self.objects)


def _judge(verdict: str, *fields: str, why: str, shown: str = "", objects: tuple[str, ...] = ()) -> Judgement:
    return Judgement(verdict, fields, why, shown, objects)


_FLAGS, _BASE = "array.flags", "array.base"
_SHAPE = ("array.nd", "array.dimensions", "array.strides")
_SWAP = _judge("mutate-then-restore", "array.descr", why="swaps in a dtype with the fields reordered for "
               "`order=`, sorts, swaps the old one back", shown="family/restore.md#sorting-by-a-field-order")
_WRITEBACK = "WRITEBACKIFCOPY: the original array's `WRITEABLE` flag is cleared or set again, by design"
_WRITEBACK_SHOWN = "family/flags.md#by-design-writebackifcopy"
# The scratch copy of a WRITEBACKIFCOPY pair: its base (the original) and its own flags.
_SCRATCH = ("made by the code that asked for it (`PyArray_FromArray`, `nditer`, `dot`'s `out=`, fancy "
            "indexing) and held by it until resolved or discarded; a Python `np.nditer` also shows it as "
            "`it.operands`")
JUDGEMENTS: dict[str, Judgement | tuple[Judgement, ...]] = {
    # The writers themselves: each call of them is a site of its own.
    "PyArray_ENABLEFLAGS": _judge("the writer itself", _FLAGS, why="`|=` on the flags"),
    "PyArray_CLEARFLAGS": _judge("the writer itself", _FLAGS, why="`&= ~` on the flags"),
    "PyArray_UpdateFlags": _judge("the writer itself", _FLAGS, why="recomputes the flags it is asked to"),
    "_UpdateContiguousFlags": _judge("the writer itself", _FLAGS, why="PyArray_UpdateFlags' helper"),
    "PyDataType_SET_ELSIZE": _judge("the writer itself", "dtype.elsize", why="sets a dtype's itemsize"),
    # Objects the caller has just made.
    "PyArray_SetBaseObject": _judge("new object", _BASE, _FLAGS,
                                    why="refuses an array that already has a base, so it runs once, "
                                        "on an array being set up"),
    "_setup_field": _judge("new object", "array.descr", _FLAGS,
                           why="its callers pass the dummy array on their own stack"),
    "npy_mark_tmp_array_if_pyscalar": _judge("new object", _FLAGS,
                                             why="tags the temporary array just converted from a Python "
                                                 "scalar"),
    "_get_part": _judge("new object", _FLAGS, why="the result the ufunc call just returned"),
    "PyArray_RemoveAxesInPlace": _judge("new object", *_SHAPE, _FLAGS,
                                        why="both callers (`squeeze`) pass the view they just made"),
    "_convert_from_str": _judge("new object", "dtype.byteorder",
                                why="the descriptor `parse_dtype_from_datetime_typestr` just returned"),
    "array_converter_new": _judge("new object", _FLAGS,
                                  why="the 0-d array `PyArray_FromAny_int` just made from a Python scalar"),
    "_multiarray_umath_exec": _judge("new object", _FLAGS,
                                     why="module initialisation, on the array it has just made"),
    # Teardown.
    "arraydescr_dealloc": _judge("teardown", "dtype.c_metadata", why="the dtype's deallocation"),
    # Synchronised.
    "array_getbuffer": _judge("synchronised", "array._buffer_info",
                              why="the buffer-info cache, filled inside a critical section on the array "
                                  "(since 2.4.2)", shown="family/caches.md#the-buffer-info-cache"),
    "PyArray_DescrHash": _judge("synchronised", "dtype.hash", why="the cached hash, an atomic store"),
    "PyArray_StringDType_hash": _judge("synchronised", "dtype.hash", why="the cached hash, an atomic store"),
    # Deprecated setters.
    "array_shape_set_internal": _judge("deprecated setter", *_SHAPE, _FLAGS,
                                       why="`a.shape = ...` (deprecated in 2.5)"),
    "array_strides_set": _judge("deprecated setter", "array.strides", _FLAGS,
                                why="`a.strides = ...` (deprecated in 2.4)"),
    "_check_compatibility_with_new_dtype": _judge(
        "deprecated setter", "array.dimensions", "array.strides",
        why="the `.dtype` setter's helper: given no storage (`array_descr_set_internal` passes NULL), it "
            "points `*newdims` at the array's own dims and writes the new last dimension and stride through "
            "it; `view` passes storage of its own",
        shown="family/dtype-setter.md#a-dtype-setter-and-a-borrowed-dtype"),
    "array_descr_set_internal": _judge("deprecated setter", "array.descr", *_SHAPE, _FLAGS,
                                       why="`a.dtype = ...` (deprecated in 2.5)",
                                       shown="family/dtype-setter.md#a-dtype-setter-and-a-borrowed-dtype"),
    # In place, by design.
    "PyArray_Resize_int": _judge("in place, by design", "array.data", *_SHAPE, why="`a.resize(...)`"),
    "array_setstate": _judge("in place, by design", "array.descr", "array.data", *_SHAPE, _FLAGS, _BASE,
                             "array.mem_handler", why="`a.__setstate__(...)`, callable on any array"),
    # Not teardown only: array_dealloc calls it, and so does __setstate__ (clear_array_attributes).
    "_clear_array_attributes": _judge("in place, by design", "array._buffer_info", "array.data",
                                      "array.dimensions",
                                      why="clears the array it is given: for its deallocation "
                                          "(`array_dealloc`, no other reference left), and for "
                                          "`a.__setstate__(...)` (`clear_array_attributes`), on an array "
                                          "any thread may hold"),
    "array_setflags": _judge("in place, by design", _FLAGS, _BASE,
                             why="`a.setflags(...)` and `a.flags.writeable = ...`",
                             shown="family/flags.md#a-refused-setflags-call"),
    "arrayflags_warn_on_write_set": _judge("in place, by design", _FLAGS,
                                           why="`a.flags._warn_on_write = True` (private)"),
    "arraydescr_setstate": _judge("in place, by design", "dtype.byteorder", "dtype.subarray", "dtype.names",
                                  "dtype.fields", "dtype.elsize", "dtype.alignment", "dtype.flags",
                                  "dtype.metadata", "dtype.hash", why="`dtype.__setstate__(...)`"),
    "arraydescr_names_set": _judge("in place, by design", "dtype.names", "dtype.fields", "dtype.hash",
                                   why="`dtype.names = ...` on a structured dtype"),
    # Mutate-then-restore.
    "array_sort": _SWAP,
    "array_argsort": _SWAP,
    "array_partition": _SWAP,
    "array_argpartition": _SWAP,
    "PyArray_Zero": _judge("mutate-then-restore", _FLAGS,
                           why="sets `ALIGNED` and `WRITEABLE` on the caller's array around a `SETITEM`, "
                               "then writes the saved flags back"),
    "PyArray_One": _judge("mutate-then-restore", _FLAGS, why="as PyArray_Zero"),
    "_set_constant": _judge("mutate-then-restore", _FLAGS,
                            why="as PyArray_Zero, on the array a neighborhood iterator walks"),
    # Flag updates of shared arrays.
    "PyArray_BroadcastToShape": _judge("shared flag update", _FLAGS,
                                       why="`PyArray_UpdateFlags` on the array `ufunc.at` takes its values "
                                           "from",
                                       shown="family/flags.md#the-same-flag-update-in-ufuncat"),
    "array_might_be_written": _judge("shared flag update", _FLAGS,
                                     why="clears `WARN_ON_WRITE` on the array and its bases at the first "
                                         "write (the broadcast_arrays warning)"),
    "PyArray_SetWritebackIfCopyBase": (
        _judge("shared flag update", _FLAGS, objects=("base",), why=_WRITEBACK, shown=_WRITEBACK_SHOWN),
        _judge("new object", _BASE, _FLAGS, objects=("arr",),
               why="`arr`, the copy of `base` the caller has just made (the function's stated precondition)"),
    ),
    "PyArray_ResolveWritebackIfCopy": (
        _judge("shared flag update", _FLAGS, objects=("fa->base",), why=_WRITEBACK, shown=_WRITEBACK_SHOWN),
        _judge("scratch copy", _BASE, _FLAGS, objects=("self", "fa"), why=f"`self`, the copy: {_SCRATCH}"),
    ),
    "PyArray_DiscardWritebackIfCopy": (
        _judge("shared flag update", _FLAGS, objects=("fa->base",), why=_WRITEBACK, shown=_WRITEBACK_SHOWN),
        _judge("scratch copy", _BASE, _FLAGS, objects=("arr", "fa"), why=f"`arr`, the copy: {_SCRATCH}"),
    ),
    # Descriptors the function did not make.
    "_descr_find_object": _judge("shared descriptor", "dtype.flags",
                                 why="writes the flags of a field's descriptor while unpickling a structured "
                                     "dtype; for an object field that is the process-wide object dtype, "
                                     "and the value is the one it has (the #28143 kind)",
                                 shown="family/descriptors.md#a-byte-order-written-into-a-shared-descriptor"),
    "array_scalar": _judge("shared descriptor", "dtype.elsize",
                           why="sets the itemsize of the dtype passed in when it is 0, for a pointer type"),
    # Process-wide registration.
    "PyArray_RegisterDataType": _judge("process-wide", "dtype.type_num",
                                       why="the new descriptor is already in the process-wide `userdescrs` "
                                           "table when its type number is written"),
    "dtypemeta_initialize_struct_from_spec": _judge("process-wide", "dtype.type_num",
                                                    why="as PyArray_RegisterDataType"),
    # The rest.
    "PyArray_DescrFromTypeObject": _judge("unreachable", "dtype.subarray",
                                          why="`conv` is NULL on every path to the write"),
    "corrupt_or_fix_bufferinfo": _judge("test module", "array._buffer_info",
                                        why="`_multiarray_tests`: corrupts the cache on purpose"),
}


# The scan's own judgement, for a write to an object the function made (its line is the site's made_at).
BY_THE_SCAN = Judgement(MADE_HERE, (), VERDICTS[MADE_HERE])


def judgements_of(function: str) -> tuple[Judgement, ...]:
    """The judgements of *function*'s writes: one, or one per object it writes (the first covering wins)."""
    found = JUDGEMENTS.get(function, ())
    return found if isinstance(found, tuple) else (found,)


def judgement_of(site: Site) -> Judgement | None:
    """The judgement of *site* (None: unjudged). A write to an object made in the function judges itself."""
    if site.made_at is not None:
        return BY_THE_SCAN
    return next((judgement for judgement in judgements_of(site.function) if judgement.covers(site)), None)


def unjudged(version: str = CURRENT_NUMPY) -> list[Site]:
    """The writes neither made here nor judged: the chapter's build fails on any."""
    return [site for site in sites(version) if judgement_of(site) is None]


def stale_judgements(version: str = CURRENT_NUMPY) -> list[str]:
    """Judged functions and fields that no longer write anything: the judgement outlived its code."""
    written = [site for site in sites(version) if site.made_at is None]
    return [f"{function}: {field}" + (f" of {', '.join(judgement.objects)}" if judgement.objects else "")
            for function in JUDGEMENTS for judgement in judgements_of(function) for field in judgement.fields
            if not any(site.function == function and f"{site.owner}.{site.field}" == field
                       and judgement.covers(site) for site in written)]


def assert_every_write_judged(version: str = CURRENT_NUMPY) -> None:
    """Fail, naming each, if a write is neither made here nor judged: a new writer the book has not read."""
    missing = unjudged(version)
    listed = "\n".join(f"  {s.path}:{s.line} {s.function}: {s.owner}.{s.field} ({s.code})" for s in missing)
    assert not missing, (f"{len(missing)} writes of NumPy {version}'s metadata have no judgement; read each "
                         f"and add it to ftbook.ownership.JUDGEMENTS:\n{listed}")
    stale = stale_judgements(version)
    assert not stale, f"judgements whose write is gone from NumPy {version} (delete them): {stale}"


# --- Tables --------------------------------------------------------------------------------------

def _line_links(group: list[Site]) -> str:
    return f"`{Path(group[0].path).name}` " + " ".join(f"[L{site.line}]({site.url()})" for site in group)


def _fields(group: list[Site]) -> str:
    return ", ".join(f"`{field}`" for field in dict.fromkeys(f"{s.owner}.{s.field}" for s in group))


def _synchronised(group: list[Site]) -> str:
    return ", ".join(dict.fromkeys(site.synchronised for site in group))


def by_function(version: str = CURRENT_NUMPY, *, made_here: bool) -> dict[tuple[str, str], list[Site]]:
    """The sites, made here or judged, grouped by file and function, in file order."""
    groups: dict[tuple[str, str], list[Site]] = {}
    for site in sites(version):
        if (site.made_at is not None) == made_here:
            groups.setdefault((site.path, site.function), []).append(site)
    return groups


def fields_table(version: str = CURRENT_NUMPY) -> str:
    """Per field: how many places write it on an object made in the function, and judged by verdict."""
    from ftbook.tables import markdown_table

    rows = []
    for owner in ("array", "dtype"):
        for field in fields_of(owner, version):
            written = [s for s in sites(version) if (s.owner, s.field) == (owner, field)]
            judged = collections.Counter(judgement_of(s).verdict for s in written if s.made_at is None)
            verdicts = "; ".join(f"{n} {verdict}" for verdict, n in judged.most_common()) or "—"
            made = sum(s.made_at is not None for s in written)
            rows.append([f"`{owner}.{field}`", made or "—", verdicts])
    return markdown_table(["field", "writes on an object made there", "other writes, by judgement"], rows)


def judged_table(version: str = CURRENT_NUMPY) -> str:
    """Every judgement: verdict, function, fields, each line linked, the synchronisation, the reason.

    One row per judgement: a function judged object by object has a row for each.
    """
    from ftbook.tables import markdown_table

    groups: dict[tuple[str, str, Judgement], list[Site]] = {}
    for site in sites(version):
        if site.made_at is None:
            groups.setdefault((site.path, site.function, judgement_of(site)), []).append(site)

    def racy_first(item):
        verdict = item[0][2].verdict
        return verdict in SAFE, list(VERDICTS).index(verdict)

    rows = []
    for (_, function, judgement), group in sorted(groups.items(), key=racy_first):
        # The page is chapters/ownership.md: a chapter of the family is family/<page> from there.
        why = judgement.why + (f" ({{doc}}`shown <{judgement.shown.split('#')[0].removesuffix('.md')}>`)"
                               if judgement.shown else "")
        rows.append([judgement.verdict, f"`{function}`", _fields(group), _line_links(group),
                     _synchronised(group), why])
    return markdown_table(["judgement", "function", "fields", "where", "synchronised", "why"], rows)


def made_here_table(version: str = CURRENT_NUMPY) -> str:
    """The writes to an object the function made: function, fields, lines, and the line that made it."""
    from ftbook.tables import markdown_table

    rows = []
    for (_, function), group in by_function(version, made_here=True).items():
        made = sorted({site.made_at for site in group})
        rows.append([f"`{function}`", _fields(group), _line_links(group),
                     " ".join(f"[L{line}]({line_url(group[0].path, line, version)})" for line in made)])
    return markdown_table(["function", "fields", "writes", "made at"], rows)


CSV_COLUMNS = ("path", "line", "function", "field", "object", "how", "synchronised", "made_at", "verdict",
               "safe", "why", "url")


def csv_text(version: str = CURRENT_NUMPY) -> str:
    """The whole map, one write a row (:data:`CSV_COLUMNS`): what the page offers as a download."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for site in sites(version):
        judgement = judgement_of(site)
        verdict = judgement.verdict if judgement else "unjudged"
        writer.writerow([site.path, site.line, site.function, f"{site.owner}.{site.field}", site.obj,
                         site.how, site.synchronised, site.made_at or "", verdict,
                         "yes" if verdict in SAFE else "no", judgement.why if judgement else "",
                         site.url(version)])
    return out.getvalue()


_DOC_ROLE = re.compile(r"\{doc\}`(?:[^`<]*<)?(?P<target>[^`<>]+)>?`")


def pages_linking_to(page: str, docs: Path) -> list[str]:
    """The pages under *docs* (paths without ``.md``, from *docs*) whose ``{doc}`` links name *page*.

    A link is resolved as Sphinx does: from the linking page's folder, or from *docs* when it starts
    with ``/``. The build output (``_build``) is not a page.
    """
    found = []
    for source in sorted(docs.rglob("*.md")):
        name = source.relative_to(docs).with_suffix("").as_posix()
        if name == page or "_build" in source.relative_to(docs).parts:
            continue
        folder = Path(name).parent
        for match in _DOC_ROLE.finditer(source.read_text()):
            target = match.group("target").strip()
            resolved = Path(target[1:]) if target.startswith("/") else folder / target
            parts: list[str] = []
            for part in resolved.parts:
                if part == "..":
                    if parts:
                        parts.pop()
                elif part != ".":
                    parts.append(part)
            if "/".join(parts) == page:
                found.append(name)
                break
    return found


def writers_missing_from_the_map(writers, version: str = CURRENT_NUMPY) -> list[str]:
    """The writers :mod:`ftbook.levels` lists (its ``WRITERS``) whose function the map finds writing nothing.

    The API-levels page places readers by those writers, and takes each
    one's fields from this map (:func:`fields_written`): a writer the map
    does not know would write no field there, and the two pages would
    disagree about NumPy.
    """
    written = fields_written(version)
    return [f"{writer.what}: the map finds no write in {writer.function or '(no function)'} "
            f"({writer.lines.path})"
            for writer in writers if (writer.lines.path, writer.function) not in written]
