# /// script
# requires-python = ">=3.13"
# dependencies = []
# ///
"""Find writes through NumPy array metadata pointers in C sources.

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

A "local pointer" is a variable assigned from one of those calls (or from
another such pointer, plus an offset) earlier in the same function, and not
reassigned to something else since. Reads, comparisons, copies *out of* the
metadata into a local array, comments and string literals are not reported.

It is a lexical scanner, not a compiler: it does not expand macros, follows
no pointer passed to another function, and reads both branches of an #if.
It cannot know whether the array written to is still private to the function
(a freshly created result) or shared (an argument); that is for the reader.

Exit status: 0 scanned (findings or not); 1 findings and --exit-code given,
or two passes (--iterations) disagreed; 2 bad arguments or a path that is
not there; 3 the time limit ran out first; 4 a scanning thread raised.

    python find_metadata_writes.py numpy-2.2.2/numpy/_core/src --json
"""

import re
import sys
import threading
import time
from pathlib import Path

from thread_harness import EXIT_OK, EXIT_RACE, Run, finish, parser, run_threaded

# The keys of its --json summary besides the harness's: the book's chapters and tests
# read them by name, so renaming one changes a contract (the book's nox -s uses -- find_metadata_writes.py).
SUMMARY_KEYS = ("passes", "files", "fastest_pass_seconds", "count", "findings")

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
        pairs = {"(": ")", "[": "]", "{": "}"}
        opening, closing = self.values[index], pairs[self.values[index]]
        depth = 0
        for k in range(index, len(self.values)):
            if self.values[k] == opening:
                depth += 1
            elif self.values[k] == closing:
                depth -= 1
                if depth == 0:
                    return k
        return len(self.values)

    def functions(self):
        """(name, first token, last token) of every function body.

        A body is a top-level brace block preceded by ``name(...)``. A "{" or
        "}" in column 0 is taken as top level whatever the brace count says:
        that resynchronises after an #if/#else that opens a brace twice.
        """
        depth, k, found = 0, 0, []
        start = name = None
        while k < len(self.values):
            value = self.values[k]
            if value == "{":
                if self.column_of(k) == 0:
                    depth = 0
                if depth == 0 and self.transparent(k):
                    k += 1  # extern "C" { ... } and namespace x { ... } hold functions
                    continue
                if depth == 0:
                    name = self.function_name(k)
                    start = k
                depth += 1
            elif value == "}":
                depth = 0 if self.column_of(k) == 0 else max(depth - 1, 0)
                if depth == 0 and start is not None:
                    if name:
                        found.append((name, start, k))
                    start = name = None
            k += 1
        if start is not None and name:
            found.append((name, start, len(self.values) - 1))
        return found

    def transparent(self, brace):
        before = self.values[max(0, brace - 2):brace]
        return "extern" in before or "namespace" in before

    def function_name(self, brace):
        """The name before the parameter list that precedes the "{" at *brace*, or None."""
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
            return self.values[k - 1]
        return None

    # -- metadata pointer expressions

    def pointer_at(self, k, aliases):
        """If a metadata pointer expression starts at token *k*: (end, description); else None.

        ``PyArray_DIMS(x)`` (optionally cast), or a local pointer variable
        that currently points into metadata.
        """
        value = self.values[k]
        if value in SOURCES and k + 1 < len(self.values) and self.values[k + 1] == "(":
            end = self.match(k + 1)
            return end, (join_tokens(self.values[k:end + 1]), "")
        if (value in aliases and self.tokens[k][0] == "ident"
                and (k == 0 or self.values[k - 1] not in {".", "->"})):
            return k, aliases[value]
        if value == "(":  # a cast: (npy_intp *)PyArray_DIMS(x), (const npy_intp *)d
            close = k + 1
            while close < len(self.values) and close - k < 6 and (
                    self.values[close] == "*" or self.tokens[close][0] == "ident"):
                close += 1
            if close + 1 < len(self.values) and self.values[close] == ")" and self.values[close - 1] == "*":
                return self.pointer_at(close + 1, aliases)
        return None

    def pointer_value(self, start, end, aliases):
        """Description if tokens [start, end) evaluate to a metadata pointer, else None.

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

    # -- the scan

    def scan(self):
        findings = []
        for name, first, last in self.functions():
            findings.extend(self.scan_function(name, first, last))
        return findings

    def scan_function(self, function, first, last):
        aliases = {}  # local variable -> what it points into
        findings = []
        k = first + 1
        while k < last:
            value = self.values[k]
            # 1. (re)assignment of a plain variable: track or forget a local pointer
            if (self.tokens[k][0] == "ident" and k + 1 < last and self.values[k + 1] == "="
                    and self.values[k - 1] not in {".", "->"}
                    and not (self.values[k - 1] == "*" and self.values[k - 2] in DEREF_AFTER - {","})):
                end = self.expression_end(k + 2, last)
                described = self.pointer_value(k + 2, end, aliases)
                if described:
                    root, via = described
                    step = f"{value} (line {self.line_of(k)})"
                    aliases[value] = (root, f"{step} <- {via}" if via else step)
                else:
                    aliases.pop(value, None)
                k += 2
                continue
            # 2. a copy into metadata: memcpy(P, ...)
            if value in COPIERS and k + 1 < last and self.values[k + 1] == "(":
                close = self.match(k + 1)
                end = self.expression_end(k + 2, close)
                described = self.pointer_value(k + 2, end, aliases)
                if described:
                    findings.append(self.finding(k, function, "copy", described))
                k += 2
                continue
            # 3. writes through a pointer expression starting here
            found = self.pointer_at(k, aliases) if self.tokens[k][0] == "ident" else None
            if found:
                end, described = found
                kind = self.write_kind(k, end, last)
                if kind:
                    findings.append(self.finding(k, function, kind, described))
                k = end + 1
                continue
            k += 1
        return findings

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

    def finding(self, index, function, kind, target):
        line = self.line_of(index)
        root, via = target
        return {
            "file": self.path,
            "line": line,
            "function": function,
            "kind": kind,
            "target": root,  # PyArray_DIMS(aop)
            "via": via,  # the local pointers it went through, latest first; "" if written directly
            "code": self.lines[line - 1].strip() if line <= len(self.lines) else "",
        }


def join_tokens(tokens):
    """``["PyArray_DIMS", "(", "a", ")"]`` -> ``"PyArray_DIMS(a)"``."""
    text = ""
    for token in tokens:
        glue = text and text[-1].isalnum() and token[:1].isalnum() or text.endswith(",")
        text += (" " if glue else "") + token
    return text


def scan_file(path):
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    return Scanner(path, text).scan()


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


def scan_all(files, threads, run):
    """Scan *files* on *threads* threads; returns (findings in file order, every file scanned?)."""
    results = {}
    pending = list(reversed(files))
    lock = threading.Lock()  # guards pending and results: shared by the workers

    def worker(run):
        while run.running():
            with lock:
                if not pending:
                    return
                path = pending.pop()
            found = scan_file(path)
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
        findings, complete = scan_all(files, args.threads, run)
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
            print(f"{f['file']}:{f['line']}: {f['function']}: {f['kind']} write through {f['target']}{via}\n"
                  f"    {f['code']}")
    text = (f"pass {passes} found something else than pass 1" if disagree
            else f"{len(findings)} write(s) through array metadata in {len(files)} file(s)")
    if passes < args.iterations and not disagree:
        text += f"; stopped after {passes} of {args.iterations} passes"
    status = finish(args, run, example="find_metadata_writes", race_observed=disagree, text=text,
                    passes=passes, files=len(files),
                    fastest_pass_seconds=None if fastest is None else round(fastest, 3),
                    count=len(findings), findings=findings)
    return EXIT_RACE if status == EXIT_OK and findings and args.exit_code else status


if __name__ == "__main__":
    sys.exit(main())
