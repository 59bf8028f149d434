"""Quote NumPy's C code and CPython's sources, cut at build time from their releases.

The book never pastes NumPy's code. A chapter names a release, a file and a
function (or two lines that bracket a passage); this module cuts those lines
out of that release's sdist (:func:`ftbook.provision.sources.numpy_sdist`: downloaded
from PyPI, SHA-256 pinned), and renders them with their line numbers and a
permalink to the same lines at the release's tag on GitHub. If a function
or a marker line is not where the chapter says, the build fails instead of
quoting something else.

    repeat = c_function("2.2.2", "numpy/_core/src/multiarray/item_selection.c", "PyArray_Repeat")
    window = repeat.between("/* Construct new array */", "PyArray_DIMS(aop)[axis] = n;")
    show(window, emphasize=("PyArray_DIMS(aop)[axis]",))
    show_diff(repeat, c_function("2.2.3", repeat.path, "PyArray_Repeat"))

CPython's files are quoted the same way from its release tarballs
(:func:`ftbook.provision.sources.cpython_source`), with permalinks at the
release's tag: ``source_file("cpython", "3.14.7", "Doc/library/threadsafety.rst")``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from pathlib import Path

from ftbook.provision.sources import cpython_source, numpy_sdist

# Each project's files at a release's tag.
TAG_URL = {
    "numpy": "https://github.com/numpy/numpy/blob/v{version}/{path}#L{start}-L{end}",
    "cpython": "https://github.com/python/cpython/blob/v{version}/{path}#L{start}-L{end}",
    "scipy": "https://github.com/scipy/scipy/blob/v{version}/{path}#L{start}-L{end}",
}
PROJECT_NAME = {"numpy": "NumPy", "cpython": "CPython", "scipy": "SciPy"}
LANGUAGE = {".c": "c", ".h": "c", ".rst": "rst", ".py": "python"}  # anything else: text



class QuoteError(LookupError):
    """What a chapter asked for is not in that release's source (the build stops)."""


@dataclasses.dataclass(frozen=True)
class Quote:
    version: str  # the release, "2.2.2"
    path: str  # inside the sdist and the repository: "numpy/_core/src/..."
    start: int  # first line, 1-based
    lines: tuple[str, ...]
    name: str = ""  # the function quoted, if any
    project: str = "numpy"  # a key of PROJECT_NAME

    @property
    def release(self) -> str:
        """"NumPy 2.2.2", "CPython 3.14.7"."""
        return f"{PROJECT_NAME[self.project]} {self.version}"

    @property
    def end(self) -> int:
        return self.start + len(self.lines) - 1

    @property
    def url(self) -> str:
        template = TAG_URL[self.project]
        url = template.format(version=self.version, path=self.path, start=self.start, end=self.end)
        return url.removesuffix(f"-L{self.end}") if self.end == self.start else url  # one line: #L12

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def line_of(self, needle: str) -> int:
        """The file line number of the first line containing *needle*."""
        for offset, line in enumerate(self.lines):
            if needle in line:
                return self.start + offset
        where = f"{self.path} lines {self.start}-{self.end} of {self.release}"
        raise QuoteError(f"{needle!r} is not in {where}")

    def line(self, number: int) -> Quote:
        """File line *number* alone (a TSAN frame's ``file.c:934``), as a one-line quote."""
        if not self.start <= number <= self.end:
            raise QuoteError(f"line {number} is not in {self.path} lines {self.start}-{self.end} "
                             f"of {self.release}")
        return dataclasses.replace(self, start=number, lines=(self.lines[number - self.start],))

    def between(self, first: str, last: str) -> Quote:
        """The lines from the first containing *first* through the next containing *last*."""
        begin = self.line_of(first)
        rest = dataclasses.replace(self, start=begin, lines=self.lines[begin - self.start:])
        stop = rest.line_of(last)
        return dataclasses.replace(rest, lines=rest.lines[: stop - begin + 1])

    def __contains__(self, needle: str) -> bool:
        return any(needle in line for line in self.lines)


def _tree(project: str, version: str) -> Path:
    unpacked = numpy_sdist if project == "numpy" else cpython_source  # looked up now: tests replace them
    return unpacked(version, log=lambda _: None)


def source_lines(version: str, path: str, project: str = "numpy") -> list[str]:
    file = _tree(project, version) / path
    if not file.is_file():
        raise QuoteError(f"{PROJECT_NAME[project]} {version}'s sources have no {path}")
    return file.read_text().splitlines()


def source_path(version: str, name: str, project: str = "numpy") -> str | None:
    """The path of the one file called *name* in the release's sources; None if there is none or several.

    A ThreadSanitizer frame names a file without its folders (``ndarraytypes.h:1540``): an inline
    function in a header, say, not only the ``.c`` file the caller is in. Generated sources (from
    ``.c.src`` templates) are in no sdist, so a frame in one has no path.
    """
    root = _tree(project, version)
    found = [file for file in root.rglob(name) if file.is_file()]
    return found[0].relative_to(root).as_posix() if len(found) == 1 else None


def source_file(project: str, version: str, path: str) -> Quote:
    """The whole of *path* in *project*'s release *version*, to cut with :meth:`Quote.between`."""
    return Quote(version, path, 1, tuple(source_lines(version, path, project)), project=project)


# Run by a book environment's python: where a Python function is defined, its lines, and the
# installed version of the distribution it belongs to (argv: module, qualified name, distribution).
_INSPECT = """
import importlib, importlib.metadata, inspect, json, sys
target = importlib.import_module(sys.argv[1])
for part in sys.argv[2].split("."):
    target = getattr(target, part)
lines, start = inspect.getsourcelines(target)
print(json.dumps({"file": inspect.getsourcefile(target), "start": start, "lines": lines,
                  "version": importlib.metadata.version(sys.argv[3])}))
"""


def installed_function(env: str, module: str, qualname: str, *, project: str) -> Quote:
    """A Python function or method as installed in book environment *env* (from the wheel's own files).

    ``installed_function("scipy-numpy-2.2.2", "scipy.stats.tests.test_hypotests",
    "TestSomersD.test_strided", project="scipy")``. A method defined in a base
    class is quoted where it is defined. The permalink uses the installed
    distribution's version and the file's path inside the package, which
    for SciPy is its path in the repository.
    """
    import json
    import subprocess

    from ftbook.provision.envs import book_env_python

    python = book_env_python(env)
    quiet = {"PYTHON_GIL": "0"}  # importing the module must not start anything else
    done = subprocess.run([str(python), "-c", _INSPECT, module, qualname, project], capture_output=True,
                          text=True, timeout=120, env=quiet)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise QuoteError(f"{module}.{qualname} could not be read in {env}: {last}")
    found = json.loads(done.stdout)
    version = found["version"]
    parts = Path(found["file"]).parts
    inside = "/".join(parts[parts.index("site-packages") + 1:])  # scipy/_lib/_testutils.py
    lines = tuple(line.rstrip("\n") for line in found["lines"])
    return Quote(version, inside, found["start"], lines, qualname.split(".")[-1], project)


def c_function(version: str, path: str, name: str, project: str = "numpy") -> Quote:
    """The definition of C function *name* in *path* of *project* *version*, return type to closing brace.

    NumPy's style, and CPython's, puts the name at the start of a line, the
    return type (and ``NPY_NO_EXPORT``, ``static``...) on the line before it,
    and the closing brace alone in column 0; a one-line signature works too.
    """
    lines = source_lines(version, path, project)
    code = [re.sub(r"/\*.*?\*/|//.*$", "", line).rstrip() for line in lines]  # comments cut off
    head = re.compile(rf"^(?:[A-Za-z_][\w \t*]*[ \t*])?{re.escape(name)}\s*\(")
    for index, line in enumerate(code):
        if not head.match(line):
            continue
        body = None
        for i in range(index, len(code)):  # the signature runs on until its "{"
            if code[i].startswith("{") or code[i].endswith("{"):
                body = i
                break
            if code[i].endswith(";") or not code[i].strip():
                break  # a prototype or a call: no body follows
        if body is None:
            continue
        first = index
        while first > 0 and _part_of_signature(lines[first - 1]):
            first -= 1  # the return type and qualifiers on the lines above
        last = next(i for i in range(body, len(code)) if code[i].startswith("}"))
        return Quote(version, path, first + 1, tuple(lines[first:last + 1]), name, project)
    raise QuoteError(f"no definition of {name}() in {path} of {PROJECT_NAME[project]} {version}")


def python_function(version: str, path: str, name: str, project: str = "numpy") -> Quote:
    """The top-level Python function *name* in *path* of *project* *version*: decorators to last line."""
    import ast

    lines = source_lines(version, path, project)
    for node in ast.parse("\n".join(lines)).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            return Quote(version, path, first, tuple(lines[first - 1:node.end_lineno]), name, project)
    raise QuoteError(f"no top-level def {name}() in {path} of {PROJECT_NAME[project]} {version}")


def _part_of_signature(line: str) -> bool:
    """Can *line*, just above a function's name, be its return type or qualifiers?"""
    text = line.strip()
    return bool(text) and not text.endswith(("}", ";", "*/")) and not text.startswith(("/*", "*", "//", "#"))


def _fence(lines: list[str]) -> str:
    longest = max((len(m) for line in lines for m in re.findall(r"`{3,}", line)), default=2)
    return "`" * max(3, longest + 1)


def show(quote: Quote, *, caption: str | None = None, emphasize: tuple[str, ...] = ()):
    """The quote as a numbered code block under a caption linking the lines at the release's tag.

    Lines containing any of *emphasize* are highlighted; each must occur.
    """
    from IPython.display import Markdown

    for needle in emphasize:
        quote.line_of(needle)  # fails the build if the line is gone
    marked = [i + 1 for i, line in enumerate(quote.lines) if any(n in line for n in emphasize)]
    where = f"`{Path(quote.path).name}` lines {quote.start}–{quote.end}, {quote.release}"
    title = f"{caption} ({where})" if caption else where
    fence = _fence(list(quote.lines))
    options = [f":caption: [{title}]({quote.url})", f":lineno-start: {quote.start}", ":linenos:"]
    if marked:
        options.append(f":emphasize-lines: {','.join(map(str, marked))}")
    language = LANGUAGE.get(Path(quote.path).suffix, "text")
    return Markdown("\n".join([f"{fence}{{code-block}} {language}", *options, "", *quote.lines, fence]))


def diff_lines(old: Quote, new: Quote, *, context: int = 3) -> list[str]:
    """A unified diff of two releases of the same file, only the hunks that change the quoted function.

    A hunk is kept when one of its removed lines is in *old*'s lines or one of
    its added lines in *new*'s: a change to the next function, whose context
    lines merely reach into this one, is not this function's. Hunk headers
    carry the real line numbers of each release's file.
    """
    before, after = source_lines(old.version, old.path), source_lines(new.version, new.path)
    hunks, current, touches = [], None, False
    old_line = new_line = 0
    for line in difflib.unified_diff(before, after, n=context, lineterm=""):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            if current is not None and touches:
                hunks.append(current)
            head = re.match(r"@@ -(\d+)(?:,\d+)? \+(\d+)", line)
            old_line, new_line = int(head.group(1)), int(head.group(2))
            current, touches = [line], False
            continue
        current.append(line)
        if line.startswith("-"):
            touches |= old.start <= old_line <= old.end
            old_line += 1
        elif line.startswith("+"):
            touches |= new.start <= new_line <= new.end
            new_line += 1
        else:
            old_line, new_line = old_line + 1, new_line + 1
    if current is not None and touches:
        hunks.append(current)
    if not hunks:
        raise QuoteError(f"{old.path}: nothing changed in lines {old.start}-{old.end} "
                         f"between NumPy {old.version} and {new.version}")
    header = [f"--- NumPy {old.version}: {old.path}", f"+++ NumPy {new.version}: {new.path}"]
    return header + [line for hunk in hunks for line in hunk]


def show_diff(old: Quote, new: Quote, *, caption: str | None = None):
    """:func:`diff_lines` as a diff block, its caption linking both releases' lines."""
    from IPython.display import Markdown

    lines = diff_lines(old, new)
    links = f"[NumPy {old.version}]({old.url}) → [NumPy {new.version}]({new.url})"
    title = f"{caption}: {links}" if caption else links
    fence = _fence(lines)
    return Markdown("\n".join([f"{fence}{{code-block}} diff", f":caption: {title}", "", *lines, fence]))
