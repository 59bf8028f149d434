# /// script
# requires-python = ">=3.13"
# dependencies = []
# ///
"""Find writes to NumPy array and dtype metadata in C sources.

PyArray_DIMS(a), PyArray_SHAPE(a) and PyArray_STRIDES(a) return pointers
into the array object itself. Writing through them changes the array for
every thread that holds it: the bug behind numpy/numpy#28197 was
``PyArray_DIMS(aop)[axis] = total;`` on the caller's own array. This script
reads C files and reports, with file, line and enclosing function:

  index       PyArray_DIMS(a)[i] = ...     (also via a local pointer: d[i] = ...)
  compound    PyArray_STRIDES(a)[i] *= ... (+=, -=, <<=, ...)
  increment   PyArray_DIMS(a)[i]++, --d[i]
  deref       *PyArray_DIMS(a) = ..., *(d + 1) = ...
  copy        memcpy/memmove/memset with a metadata pointer as destination
  field       ((PyArrayObject_fields *)a)->nd = ... (nd, descr, flags, dimensions, ...)
  flags       PyArray_ENABLEFLAGS(a, ...), PyArray_CLEARFLAGS, PyArray_UpdateFlags
  byteorder   descr->byteorder = ...
  lazy        if (!x->f) x->f = ...: a field filled on first use, outside any
              critical section or lock (an atomic store is not a plain "=")
  handout     &((PyArrayObject_fields *)a)->f, or a cache such as &x->_buffer_info,
              passed to a call outside a critical section: the callee may fill it

A "local pointer" is a variable assigned from one of those calls (or from
another such pointer, plus an offset) earlier in the same function, and not
reassigned to something else since; ``*out = PyArray_DIMS(a)`` makes
``(*out)`` one too, so a helper that hands the dims pointer out through an
out-parameter and then writes ``(*out)[i]`` is seen.

Each finding names the object written ("object") and where it came from
("target_origin"): "parameter" (a parameter of the function, a cast or
copy of one, or an object reached from one: a->base; a parameter replaced
by a copy in one branch only stays a parameter), "created here" (assigned earlier in the function from a call
that creates an object: PyArray_NewFromDescr, PyArray_Empty, tp_alloc, ...),
"on the stack" (the address of a struct declared in the function, such as
a dummy array), or "unknown". A write to an object created here or on the
stack cannot race unless the function shared it first, which a lexical
scan does not see.

It is a lexical scanner, not a compiler: it does not expand macros, follows
no pointer into another function, reads both branches of an #if, and takes
"inside a critical section" from the order of the lines, not from control
flow.

By default it scans with its first rules, the first five kinds above
(``--rules pointers``: writes through dims/strides pointers, with no
out-parameters); ``--rules all`` adds the others and out-parameters.

Exit status: 0 scanned (findings or not); 1 findings and --exit-code given,
or two passes (--iterations) disagreed; 2 bad arguments or a path that is
not there; 3 the time limit ran out first; 4 a scanning thread raised.

    python find_metadata_writes.py numpy-2.2.2/numpy/_core/src --rules all --json
"""

import re
import sys
import threading
import time
from pathlib import Path

from thread_harness import EXIT_OK, EXIT_RACE, Run, finish, parser, run_threaded

# The keys of its --json summary besides the harness's: the book's chapters and tests
# read them by name, so renaming one changes a contract (the book's nox -s uses -- find_metadata_writes.py).
SUMMARY_KEYS = ("passes", "files", "fastest_pass_seconds", "count", "findings", "rules")

SUFFIXES = (".c", ".h", ".cpp", ".cc", ".cxx", ".hpp", ".c.src", ".h.src", ".cpp.src")
SOURCES = ("PyArray_DIMS", "PyArray_SHAPE", "PyArray_STRIDES")
COPIERS = ("memcpy", "memmove", "memset", "NPY_MEMCPY", "bzero")
ASSIGN = {"=", "+=", "-=", "*=", "/=", "%=", "<<=", ">>=", "&=", "|=", "^="}
TOKEN = re.compile(r"""
    (?P<ident>[A-Za-z_@][\w@]*)
  | (?P<number>\.?\d(?:[\w.]|[eEpP][+-])*)
  | (?P<punct><<=|>>=|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^]=|[{}()\[\];,.<>=+\-*/%&|^!~?:])
""", re.X)
# Tokens after which a "*" is a dereference rather than a multiplication or
# a declarator: the start of a statement, an operator, an opening bracket.
DEREF_AFTER = {None, ";", "{", "}", "(", "[", ",", "=", "return", "?", ":", "!", "&&", "||", *ASSIGN}
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "else", "do", "case", "goto"}
BRACKETS = {"(": ")", "[": "]", "{": "}"}
RULES = ("pointers", "all")  # the first rules (writes through dims/strides pointers); every rule

# The fields of PyArrayObject_fields a write to which changes what readers of the array see.
ARRAY_FIELDS = {"nd", "descr", "flags", "dimensions", "strides", "base", "data", "_buffer_info",
                "weakreflist"}
FIELDS_TYPE = "PyArrayObject_fields"
FLAG_WRITERS = ("PyArray_ENABLEFLAGS", "PyArray_CLEARFLAGS", "PyArray_UpdateFlags")
DESCR_FIELDS = {"byteorder"}
# Fields that hold a cache filled on first use, in whatever struct they are (arrays and void scalars).
CACHES = {"_buffer_info"}
# Calls whose result is a new object, not yet seen by any other thread.
CREATOR = re.compile(r"""
    PyArray_(?:New\w*|SimpleNew\w*|Empty\w*|Zeros\w*|DescrNew\w*|View|NewCopy|Copy)
  | PyObject_(?:GC_)?New\w*
  | tp_alloc | new_\w+ | \w+_new
""", re.X)
# Calls and macros that open and close a region no other thread runs at the same time
# (for the same object or lock). Lexical: a region runs from the opening line to the closing one.
SYNC_OPEN = re.compile(r"Py_BEGIN_CRITICAL_SECTION\w*|PyMutex_Lock|\w*acquire\w*|\w+_lock|lock_guard|"
                       r"unique_lock|scoped_lock", re.I)
SYNC_CLOSE = re.compile(r"Py_END_CRITICAL_SECTION\w*|\w*unlock\w*|\w*release\w*", re.I)
# What a field holds before it is first filled: `if (!x->f)` or `if (x->f == NULL)`.
UNSET = {"NULL", "0", "nullptr", "-1"}


# ---------------------------------------------------------------- lexing


# Comments, string and char literals, and preprocessor directives (with their
# backslash continuations). Whichever starts first wins, as in a C lexer: a
# "//" inside a string is part of the string, a quote inside a comment is not.
NOT_CODE = re.compile(r"""
    //[^\n]*
  | /\*.*?(?:\*/|\Z)
  | "(?:\\.|[^"\\\n])*"?
  | '(?:\\.|[^'\\\n])*'?
  | ^[ \t]*\#(?:\\\n|[^\n])*
""", re.X | re.S | re.M)


def blank_comments_and_literals(text):
    """The text with comments, string and char literals and preprocessor lines blanked.

    Blanked characters become spaces (newlines are kept), so offsets and line
    numbers stay those of the file.
    """
    return NOT_CODE.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)


def tokenize(text):
    """(kind, value, offset) for every token of already-blanked C text."""
    return [(m.lastgroup, m.group(), m.start()) for m in TOKEN.finditer(text)]


# ---------------------------------------------------------------- scanning


class Scanner:
    """Scan one file's tokens, function by function."""

    def __init__(self, path, text):
        self.path = str(path)
        self.text = text
        self.lines = text.splitlines()
        self.tokens = tokenize(blank_comments_and_literals(text))
        self.values = [value for _, value, _ in self.tokens]
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(self, index):
        offset = self.tokens[index][2]
        lo, hi = 0, len(self.line_starts)
        while lo + 1 < hi:  # last line start <= offset
            mid = (lo + hi) // 2
            if self.line_starts[mid] <= offset:
                lo = mid
            else:
                hi = mid
        return lo + 1

    def column_of(self, index):
        return self.tokens[index][2] - self.line_starts[self.line_of(index) - 1]

    def match(self, index):
        """Index of the bracket closing the one at *index* (or len(tokens))."""
        return self.partner(index, range(index, len(self.values)), len(self.values))

    def match_back(self, index):
        """Index of the bracket opening the one that closes at *index* (or -1)."""
        return self.partner(index, range(index, -1, -1), -1)

    def partner(self, index, walk, missing):
        """The first index in *walk* (which starts at *index*) where the bracket at *index* is balanced."""
        this = self.values[index]
        other = BRACKETS.get(this) or next(o for o, c in BRACKETS.items() if c == this)
        depth = 0
        for k in walk:
            if self.values[k] == this:
                depth += 1
            elif self.values[k] == other:
                depth -= 1
                if depth == 0:
                    return k
        return missing

    def functions(self):
        """(name, parameter names, first token, last token) of every function body.

        A body is a top-level brace block preceded by ``name(...)``. A "{" or
        "}" in column 0 is taken as top level whatever the brace count says:
        that resynchronises after an #if/#else that opens a brace twice.
        """
        depth, k, found = 0, 0, []
        start = header = None
        while k < len(self.values):
            value = self.values[k]
            if value == "{":
                if self.column_of(k) == 0:
                    depth = 0
                if depth == 0 and self.transparent(k):
                    k += 1  # extern "C" { ... } and namespace x { ... } hold functions
                    continue
                if depth == 0:
                    header = self.function_name(k)
                    start = k
                depth += 1
            elif value == "}":
                depth = 0 if self.column_of(k) == 0 else max(depth - 1, 0)
                if depth == 0 and start is not None:
                    if header:
                        found.append((header[0], self.parameter_names(header[1]), start, k))
                    start = header = None
            k += 1
        if start is not None and header:
            found.append((header[0], self.parameter_names(header[1]), start, len(self.values) - 1))
        return found

    def parameter_names(self, opening):
        """The names declared in the parameter list whose "(" is at *opening*: the last name of each part."""
        names, last_name, depth = set(), None, 0
        for k in range(opening + 1, self.match(opening) + 1):
            value = self.values[k]
            if depth == 0 and value in {",", ")"}:
                if last_name:
                    names.add(last_name)
                last_name = None
            if value in {"(", "["}:
                depth += 1
            elif value in {")", "]"}:
                depth -= 1
            elif depth == 0 and self.tokens[k][0] == "ident" and value not in {"void", "const"}:
                last_name = value
        return names

    def transparent(self, brace):
        before = self.values[max(0, brace - 2):brace]
        return "extern" in before or "namespace" in before

    def function_name(self, brace):
        """(name, index of its parameter list's "(") of the function whose body opens at *brace*, or None."""
        k = brace - 1
        while k >= 0 and self.tokens[k][0] == "ident" and self.values[k] not in KEYWORDS:
            k -= 1  # K&R-style qualifiers between ")" and "{", e.g. NPY_GCC_OPT_3
        if k < 0 or self.values[k] != ")":
            return None
        depth = 0
        while k >= 0:
            if self.values[k] == ")":
                depth += 1
            elif self.values[k] == "(":
                depth -= 1
                if depth == 0:
                    break
            k -= 1
        if k > 0 and self.tokens[k - 1][0] == "ident" and self.values[k - 1] not in KEYWORDS:
            if k > 1 and self.values[k - 2] in {"=", "return"}:
                return None
            return self.values[k - 1], k
        return None

    # -- metadata pointer expressions

    def pointer_at(self, k, aliases):
        """If a metadata pointer expression starts at token *k*: (end, (target, via, object)); else None.

        ``PyArray_DIMS(x)`` (optionally cast), a local pointer variable that
        currently points into metadata, or ``(*out)`` for an out-parameter
        that was handed such a pointer.
        """
        value = self.values[k]
        if value in SOURCES and k + 1 < len(self.values) and self.values[k + 1] == "(":
            end = self.match(k + 1)
            return end, (join_tokens(self.values[k:end + 1]), "", self.object_in(k + 2, end))
        if (value in aliases and self.tokens[k][0] == "ident"
                and (k == 0 or self.values[k - 1] not in {".", "->"})):
            return k, aliases[value]
        if value == "(" and self.values[k + 1:k + 2] == ["*"] and k + 3 < len(self.values) \
                and self.values[k + 3] == ")" and "(*" + self.values[k + 2] in aliases:
            return k + 3, aliases["(*" + self.values[k + 2]]
        if value == "(":  # a cast: (npy_intp *)PyArray_DIMS(x), (const npy_intp *)d
            close = self.cast_end(k)
            if close is not None:
                return self.pointer_at(close + 1, aliases)
        return None

    def cast_end(self, k):
        """If a cast such as ``(const npy_intp *)`` starts at token *k*: the index of its ")"; else None."""
        close = k + 1
        while close < len(self.values) and close - k < 6 and (
                self.values[close] == "*" or self.tokens[close][0] == "ident"):
            close += 1
        if close + 1 < len(self.values) and self.values[close] == ")" and self.values[close - 1] == "*":
            return close
        return None

    def object_in(self, start, end):
        """The variable an expression in tokens [start, end) is about: its first name after casts and "("."""
        k = start
        while k < end:
            if self.values[k] == "(":
                close = self.cast_end(k)
                k = close + 1 if close is not None else k + 1
            elif self.values[k] in {"&", "*"}:
                k += 1
            else:
                break
        if k >= end or self.tokens[k][0] != "ident":
            return ""
        path = self.path_at(k)  # fa->base: the base array, not fa itself
        return path[0] if path and path[1] <= end else self.values[k]

    def pointer_value(self, start, end, aliases):
        """(target, via, object) if tokens [start, end) evaluate to a metadata pointer, else None.

        Accepts ``P``, ``P + n``, ``P - n``, ``&P[n]``, ``(P)`` and casts of
        those, where P is a metadata pointer expression. ``P[n]`` is a value,
        not a pointer, and is rejected.
        """
        if start >= end:
            return None
        if self.values[start] == "&":
            found = self.pointer_at(start + 1, aliases)
            if found and found[0] + 1 < end and self.values[found[0] + 1] == "[":
                close = self.match(found[0] + 1)
                return found[1] if close == end - 1 else None
            return None
        if self.values[start] == "(" and self.match(start) == end - 1:
            return self.pointer_value(start + 1, end - 1, aliases)
        found = self.pointer_at(start, aliases)
        if not found:
            return None
        after = found[0] + 1
        if after == end:
            return found[1]
        if self.values[after] in {"+", "-"} and "[" not in self.values[after:end]:
            return found[1]
        return None

    # -- where an object came from, and what guards a write

    def origin_of(self, start, end, origins, on_stack=frozenset()):
        """Where the object of tokens [start, end) comes from: "created here", "on the stack", as *origins*.

        Anything else is "unknown". *on_stack* holds the function's variables
        declared as structs, not pointers.
        """
        for k in range(start, end - 1):
            if self.values[k + 1] == "(" and CREATOR.fullmatch(self.values[k]):
                return "created here"
        k = start
        while k < end and self.values[k] == "(" and self.cast_end(k) is not None:
            k = self.cast_end(k) + 1
        if self.values[k] == "&" and k + 2 == end and self.values[k + 1] in on_stack:
            return "on the stack"  # (PyArrayObject *)&dummy_fields: a dummy no other thread sees
        name = self.object_in(start, end).split("->")[0]
        after = self.object_in_end(start, end)
        if name in origins and (after >= end or self.values[after] in {";", ","}):
            return origins[name]  # x = y, x = (T *)y: the same object as y
        return "unknown"

    def object_in_end(self, start, end):
        """The index just after the name :meth:`object_in` finds (or *end*)."""
        name = self.object_in(start, end).split("->")[0]
        for k in range(start, end):
            if self.values[k] == name:
                return k + 1
        return end

    def sync_depths(self, first, last):
        """For every token of a function: how many critical sections or locks are open there, in line order.

        Lexical: a region runs from the opening call to the closing one, so an
        early ``return`` between them is not seen; C++ guards (lock_guard)
        stay open to the end of the function.
        """
        depths, depth = {}, 0
        for k in range(first, last + 1):
            value = self.values[k]
            calls = k + 1 <= last and self.values[k + 1] == "("
            if self.tokens[k][0] == "ident" and calls and SYNC_CLOSE.fullmatch(value):
                depth = max(depth - 1, 0)
            elif self.tokens[k][0] == "ident" and (calls or value.endswith(("_guard", "_lock"))) \
                    and SYNC_OPEN.fullmatch(value):
                depth += 1
            depths[k] = depth
        return depths

    def path_at(self, k):
        """``a->b->c`` starting at token *k*: (text, index after it); None if no field access starts there."""
        if self.tokens[k][0] != "ident" or (k > 0 and self.values[k - 1] in {".", "->"}):
            return None
        end = k + 1
        while end + 1 < len(self.values) and self.values[end] == "->" and self.tokens[end + 1][0] == "ident":
            end += 2
        if end == k + 1 or (end < len(self.values) and self.values[end] in {"(", "[", "."}):
            return None
        return join_tokens(self.values[k:end]), end

    def unset_guards(self, start, end):
        """The fields a condition in [start, end) tests for "not filled yet": ``!x->f``, ``x->f == NULL``."""
        guards = set()
        for k in range(start, end):
            path = self.path_at(k)
            if not path:
                continue
            text, after = path
            if self.values[k - 1] == "!":
                guards.add(text)
            elif after < end and self.values[after] == "==":
                compared = "".join(self.values[after + 1:after + 3])
                if self.values[after + 1] in UNSET or compared in UNSET:
                    guards.add(text)
            elif self.values[k - 1] == "==" and self.values[k - 2] in UNSET:
                guards.add(text)
        return guards

    # -- the scan

    def scan(self, rules):
        findings = []
        for name, parameters, first, last in self.functions():
            findings.extend(self.scan_function(name, parameters, first, last, rules))
        return findings

    def scan_function(self, function, parameters, first, last, rules):
        every_rule = rules == "all"
        aliases = {}  # local variable -> (target, via, object) of the metadata it points into
        origins = dict.fromkeys(parameters, "parameter")  # variable -> where its object came from
        fields_views = set()  # variables declared or cast as PyArrayObject_fields *
        on_stack = set()  # variables declared as structs (T x;), whose address is a stack object
        depths = self.sync_depths(first, last)
        lazily_filled = set()  # token indexes already reported as a lazy fill
        findings = []

        def report(index, kind, target, via, written):
            # An object reached from a parameter (a->base) is lent as the parameter is; one
            # reached from an object created here is not created here.
            root = written.split("->")[0]
            origin = origins.get(root, "unknown")
            if root != written and origin != "parameter":
                origin = "unknown"
            findings.append(self.finding(index, function, kind, target, via, written, origin))

        k = first + 1
        while k < last:
            value = self.values[k]
            # 1. (re)assignment of a plain variable: track or forget a local pointer and its origin
            if (self.tokens[k][0] == "ident" and k + 1 < last and self.values[k + 1] == "="
                    and self.values[k - 1] not in {".", "->"}
                    and not (self.values[k - 1] == "*" and self.values[k - 2] in DEREF_AFTER - {","})):
                end = self.expression_end(k + 2, last)
                described = self.pointer_value(k + 2, end, aliases)
                if described:
                    target, via, written = described
                    step = f"{value} (line {self.line_of(k)})"
                    aliases[value] = (target, f"{step} <- {via}" if via else step, written)
                else:
                    aliases.pop(value, None)
                origin = self.origin_of(k + 2, end, origins, on_stack)
                if not (origin == "created here" and origins.get(value) == "parameter"
                        and self.values[first:k].count("{") - self.values[first:k].count("}") > 1):
                    # A parameter replaced by a new object in one branch only (if (...) a = copy(a);)
                    # may still be the caller's object after the branch: it stays a parameter.
                    origins[value] = origin
                if self.values[k + 2:k + 5] == ["(", FIELDS_TYPE, "*"]:
                    fields_views.add(value)
                k += 2
                continue
            if (self.tokens[k][0] == "ident" and self.tokens[k + 1][0] == "ident"
                    and self.values[k - 1] in {";", "{", "}", "const", "static"}
                    and self.values[k + 2] in {"=", ";", "[", ","}):
                on_stack.add(self.values[k + 1])  # T name; declares a variable that is not a pointer
            if (self.tokens[k][0] == "ident" and self.values[k + 1] == "[" and value not in aliases
                    and origins.get(value) != "parameter" and self.values[k - 1] not in {".", "->"}):
                close = self.match(k + 1)
                if self.values[close + 1] == "=":  # made[i] = PyArray_Empty(...): an array of objects
                    origins[value] = self.origin_of(close + 2, self.expression_end(close + 2, last), origins)
            if every_rule and value == FIELDS_TYPE and self.values[k + 1] == "*" \
                    and self.tokens[k + 2][0] == "ident" and self.values[k + 3] != ")":
                fields_views.add(self.values[k + 2])  # PyArrayObject_fields *fa
            # 1b. *out = PyArray_DIMS(a): the caller's pointer now points into a's metadata
            if (every_rule and value == "*" and self.values[k - 1] in DEREF_AFTER - {","}
                    and self.tokens[k + 1][0] == "ident" and self.values[k + 2] == "="):
                end = self.expression_end(k + 3, last)
                described = self.pointer_value(k + 3, end, aliases)
                if described:
                    target, via, written = described
                    step = f"*{self.values[k + 1]} (line {self.line_of(k)})"
                    out = "(*" + self.values[k + 1]
                    aliases[out] = (target, f"{step} <- {via}" if via else step, written)
            # 2. a copy into metadata: memcpy(P, ...)
            if value in COPIERS and k + 1 < last and self.values[k + 1] == "(":
                close = self.match(k + 1)
                end = self.expression_end(k + 2, close)
                described = self.pointer_value(k + 2, end, aliases)
                if described:
                    report(k, "copy", *described)
                k += 2
                continue
            if every_rule:
                # 4. PyArray_ENABLEFLAGS(a, ...) and friends: a read-modify-write of a's flags
                if value in FLAG_WRITERS and self.values[k + 1] == "(":
                    close = self.match(k + 1)
                    written = self.object_in(k + 2, self.expression_end(k + 2, close))
                    report(k, "flags", join_tokens(self.values[k:k + 2]) + written + ")", "", written)
                # 5. a field of an array or descriptor: ((PyArrayObject_fields *)a)->nd = ..., d->byteorder
                if value == "->" and self.values[k + 1] in ARRAY_FIELDS | DESCR_FIELDS:
                    self.field_write(k, last, fields_views, depths, report)
                # 6. if (!x->f) { ... x->f = ... }: filled on first use
                if value == "if" and self.values[k + 1] == "(":
                    self.lazy_fills(k, last, depths, lazily_filled, report)
            # 3. writes through a pointer expression starting here
            out_parameter = every_rule and value == "(" and self.values[k + 1] == "*"  # (*out)[i] = ...
            found = self.pointer_at(k, aliases) if self.tokens[k][0] == "ident" or out_parameter else None
            if found:
                end, described = found
                kind = self.write_kind(k, end, last)
                if kind:
                    report(k, kind, *described)
                    k = end + 1
                    continue
                if self.tokens[k][0] == "ident":
                    k = end + 1
                    continue
            k += 1
        return findings

    def field_write(self, arrow, last, fields_views, depths, report):
        """Report a write to, or a hand-out of, the field after the "->" at *arrow*."""
        field = self.values[arrow + 1]
        base = arrow - 1
        if self.values[base] == ")":  # ((PyArrayObject_fields *)a)->field
            opening = self.match_back(base)
            if self.values[opening + 1:opening + 4] != ["(", FIELDS_TYPE, "*"]:
                return
            written, start = self.object_in(opening + 1, base), opening
        elif self.tokens[base][0] == "ident" and self.values[base - 1] not in {".", "->"}:
            if field in ARRAY_FIELDS and self.values[base] not in fields_views and field not in CACHES:
                return  # some other struct's "flags" or "data"
            written, start = self.values[base], base
        else:
            return
        target = join_tokens(self.values[start:arrow + 2])
        after = self.values[arrow + 2] if arrow + 2 < last else None
        if after in ASSIGN or after in {"++", "--"}:
            report(start, "byteorder" if field in DESCR_FIELDS else "field", target, "", written)
        elif self.values[start - 1] == "&" and self.values[start - 2] in {"(", ","} and depths[start] == 0:
            report(start, "handout", target, "", written)

    def lazy_fills(self, keyword, last, depths, lazily_filled, report):
        """Report unsynchronised writes, in the body of the ``if`` at *keyword*, to a field it tests unset."""
        close = self.match(keyword + 1)
        guards = self.unset_guards(keyword + 2, close)
        if not guards or close + 1 >= last:
            return
        braced = self.values[close + 1] == "{"
        body_end = self.match(close + 1) if braced else self.expression_end(close + 1, last)
        for k in range(close + 1, min(body_end, last)):
            path = self.path_at(k)
            if not path or path[0] not in guards or k in lazily_filled or depths[k] > 0:
                continue
            after = path[1]
            assigned = after < last and self.values[after] == "="
            handed = self.values[k - 1] == "&" and self.values[k - 2] in {"(", ","}
            if assigned or handed:
                lazily_filled.add(k)
                report(k, "lazy", path[0], "", self.values[k])

    def write_kind(self, start, end, last):
        """What kind of write, if any, the pointer expression at [start, end] is the target of."""
        before = self.values[start - 1]
        after = end + 1
        if after < last and self.values[after] == "[":  # P[i] ...
            close = self.match(after)
            nxt = self.values[close + 1] if close + 1 < last else None
            if nxt == "=":
                return "index"
            if nxt in ASSIGN:
                return "compound"
            if nxt in {"++", "--"} or before in {"++", "--"}:
                return "increment"
            return None
        # *P = ..., *(P + n) = ..., (*P)++, ++*P
        k = start - 1
        wrapped = None
        if before == "(" and self.values[start - 2] == "*":  # *(P + n)
            close = self.match(start - 1)
            wrapped = close
            k = start - 2
        if self.values[k] == "*" and self.values[k - 1] in DEREF_AFTER | {"++", "--"}:
            tail = (wrapped if wrapped is not None else end) + 1
            if wrapped is None and tail < last and self.values[tail] in {"+", "-"}:
                return None  # *P + 1 is arithmetic on the value
            parenthesised = self.values[k - 1] == "(" and tail < last and self.values[tail] == ")"
            if parenthesised:  # (*P) ...
                tail += 1
            nxt = self.values[tail] if tail < last else None
            if nxt == "=":
                return "deref"
            if nxt in ASSIGN:
                return "compound"
            if self.values[k - 1] in {"++", "--"} or (parenthesised and nxt in {"++", "--"}):
                return "increment"
            # *P++ moves the pointer and reads: not a write to the array
        return None

    def expression_end(self, start, limit):
        """First index >= start of a top-level "," ";" or *limit*."""
        k = start
        while k < limit:
            value = self.values[k]
            if value in {"(", "[", "{"}:
                k = self.match(k) + 1
                continue
            if value in {",", ";", ")", "]", "}"}:
                return k
            k += 1
        return limit

    def finding(self, index, function, kind, target, via, written, origin):
        line = self.line_of(index)
        return {
            "file": self.path,
            "line": line,
            "function": function,
            "kind": kind,
            "target": target,  # PyArray_DIMS(aop)
            "via": via,  # the local pointers it went through, latest first; "" if written directly
            "object": written,  # aop: the variable whose object is written
            "target_origin": origin,  # "parameter", "created here" or "unknown"
            "code": self.lines[line - 1].strip() if line <= len(self.lines) else "",
        }


def join_tokens(tokens):
    """``["PyArray_DIMS", "(", "a", ")"]`` -> ``"PyArray_DIMS(a)"``."""
    text = ""
    for token in tokens:
        glue = text and text[-1].isalnum() and token[:1].isalnum() or text.endswith(",")
        text += (" " if glue else "") + token
    return text


def scan_file(path, rules):
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    return Scanner(path, text).scan(rules)


def collect(paths):
    files = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES)))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return files


def scan_all(files, threads, run, rules):
    """Scan *files* on *threads* threads with *rules*: (findings in file order, every file scanned?)."""
    results = {}
    pending = list(reversed(files))
    lock = threading.Lock()  # guards pending and results: shared by the workers

    def worker(run):
        while run.running():
            with lock:
                if not pending:
                    return
                path = pending.pop()
            found = scan_file(path, rules)
            with lock:
                results[path] = found

    run_threaded([worker] * threads, run=run)
    findings = [f for path in files for f in results.get(path, [])]
    return findings, len(results) == len(files)


def main(argv=None):
    made = parser(__doc__, threads=1, iterations=1, timeout=120.0,
                  meaning={"threads": "scan files on this many threads",
                           "iterations": "scan everything this many times and check that every pass agrees"})
    made.add_argument("paths", nargs="*", type=Path,
                      help="C files or folders to scan (default: the folder this script is in)")
    made.add_argument("--exit-code", action="store_true", help="exit 1 if anything was found")
    made.add_argument("--rules", choices=RULES, default="pointers",
                      help="pointers (default): writes through dims/strides pointers, the first rules; "
                           "all: also fields, flags, byte orders, lazy fills, hand-outs, out-parameters")
    made.epilog = ("exit status: 0 scanned; 1 findings with --exit-code, or two passes disagreed; 2 bad "
                   "arguments or a missing path; 3 the time limit ran out first; 4 a scanning thread raised")
    args = made.parse_args(argv)
    try:
        files = collect(args.paths or [Path(__file__).resolve().parent])
    except FileNotFoundError as error:
        made.error(str(error))
    run = Run(args.timeout)
    passes, fastest, first, disagree = 0, None, None, False
    for _ in range(args.iterations):
        started = time.monotonic()
        findings, complete = scan_all(files, args.threads, run, args.rules)
        if not complete:  # the time limit, or a worker raised
            break
        fastest = min(fastest or float("inf"), time.monotonic() - started)
        passes += 1
        first = findings if first is None else first
        if findings != first:  # a scanner shared by threads must not depend on their timing
            disagree = True
            break
    findings = first or []
    if not args.json:
        for f in findings:
            via = f" via {f['via']}" if f["via"] else ""
            print(f"{f['file']}:{f['line']}: {f['function']}: {f['kind']} write to {f['target']}{via} "
                  f"({f['target_origin']})\n    {f['code']}")
    text = (f"pass {passes} found something else than pass 1" if disagree
            else f"{len(findings)} write(s) to array or dtype metadata in {len(files)} file(s)")
    if passes < args.iterations and not disagree:
        text += f"; stopped after {passes} of {args.iterations} passes"
    status = finish(args, run, example="find_metadata_writes", race_observed=disagree, text=text,
                    passes=passes, files=len(files),
                    fastest_pass_seconds=None if fastest is None else round(fastest, 3),
                    count=len(findings), findings=findings, rules=args.rules)
    return EXIT_RACE if status == EXIT_OK and findings and args.exit_code else status


if __name__ == "__main__":
    sys.exit(main())
