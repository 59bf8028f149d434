"""Sphinx extension: the book's own machinery.

- :func:`write_example_pages`: a page for every file in ``examples/``, so
  the book serves the code it runs and no link depends on where the
  repository is published;
- the ``repo`` role, ``{repo}`tests/fixtures```, for the few links that
  must point into the repository: one place (``ftbook_repository_url``)
  says where that is;
- :func:`check_no_raw_markdown`: no built page shows Markdown that was not
  rendered (a table row's pipes, ``**``), which Sphinx itself lets through
  without a warning;
- re-executing a chapter when anything it runs changes (below).

Re-executing a chapter when anything it runs changes
-----------------------------------------------------

myst-nb's execution cache is keyed by a chapter's code cells only, and
Sphinx re-reads a chapter only when its own file changes. So an edited
example left the chapters that run it showing the old example's outputs.
For each executable chapter, on reading it, this extension

1. tells Sphinx which files the chapter depends on (``note_dependency``),
   so that a change to any of them makes Sphinx read the chapter again;
2. writes the digest of all its inputs (:mod:`ftbook.build.inputs`) as a comment
   into the chapter's first code cell, so that the cell's source -- and with
   it myst-nb's cache key -- changes exactly when an input does; and
3. hands the kernel the lists of examples and environments the digest
   covers, so that running anything else fails the chapter instead of
   escaping the key.

The first cell of every chapter is the hidden ``check_kernel()`` cell (a
test enforces that), so the comment is never on the page.
"""

from __future__ import annotations

import ast
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

from ftbook.build.cells import is_notebook
from ftbook.build.execute import EXECUTED_AHEAD
from ftbook.build.inputs import EXAMPLES, chapter_inputs, example_files, with_digest
from ftbook.provision.cache import atomic_write_text
from ftbook.run import is_script

logger = logging.getLogger(__name__)

def _key_execution_to_inputs(app: Sphinx, docname: str, source: list[str]) -> None:
    if not is_notebook(source[0]):
        return
    inputs = chapter_inputs(source[0])
    # A data folder too, so that a file added there is seen: Sphinx takes a dependency that is not a
    # file as changed, so the chapter is read on every build, and executed only when its digest (which
    # covers every file in the folder) changed.
    for path in (*inputs.files, *inputs.envs, *inputs.data_folders):
        if path.exists():  # Sphinx treats a missing dependency as changed: every build would re-read
            app.env.note_dependency(str(path))
    source[0] = with_digest(source[0], inputs.digest())
    inputs.declare()  # the chapter's kernel starts after this: myst-nb executes while parsing
    if os.environ.get(EXECUTED_AHEAD):
        _check_executed_ahead(app, docname, source[0])


def _check_executed_ahead(app: Sphinx, docname: str, text: str) -> None:
    """Warn (``-W``: fail) if myst-nb will not find this chapter in the cache it was executed into.

    ftbook.build.execute reads the chapter on its own; here myst-nb's reader,
    with this build's configuration, makes the notebook whose key myst-nb
    looks up. If the two ever disagreed, every chapter would silently run a
    second time, one at a time.
    """
    from jupyter_cache import get_cache
    from myst_nb.core.read import create_nb_reader

    path = app.env.doc2path(docname)
    reader = create_nb_reader(str(path), app.env.myst_config, app.env.mystnb_config, text)
    try:
        get_cache(app.env.mystnb_config.execution_cache_path).match_cache_notebook(reader.read(text))
    except KeyError:
        logger.warning("this chapter was executed ahead, but not with what it runs now: a file it runs "
                       "changed during the build (run the build again), or ftbook.build.execute and myst-nb "
                       "read it differently (a bug in the build: please report it)", location=docname)


# --------------------------------------------------------------------------
# A page per example

EXAMPLE_PAGES = "examples"  # folder under docs/, generated, not in git


def _summary(path: Path) -> str:
    """The first paragraph of a Python file's docstring or a C file's first comment."""
    text = path.read_text()
    if path.suffix == ".py":
        try:
            doc = ast.get_docstring(ast.parse(text)) or ""
        except SyntaxError:
            doc = ""
    else:
        match = re.match(r"\s*/\*(.*?)\*/", text, re.S)
        doc = re.sub(r"^\s*\* ?", "", match.group(1), flags=re.M) if match else ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def example_page(path: Path, srcdir: Path) -> str:
    relative = path.relative_to(EXAMPLES).as_posix()
    include = os.path.relpath(path, srcdir / EXAMPLE_PAGES)
    language = {".py": "python", ".c": "c", ".ini": "ini"}.get(path.suffix, "text")
    lines = [f"# `{relative}`", "", _summary(path), "",
             f"{{download}}`Download {path.name} <{include}>` · copy the whole `examples/` folder to run it: "
             "the examples share `thread_harness.py`, and the demo scripts compile `metadata_demo.c`.", ""]
    if is_script(path):
        lines += ["```console", f"$ uv run --python 3.14t examples/{relative} --help", "```", ""]
    lines += [f"```{{literalinclude}} {include}", f":language: {language}", ":linenos:", "```", ""]
    return "\n".join(lines)


def example_page_names() -> dict[str, Path]:
    """``{page name: example file}``: ``parallel_tests-test_parallel`` for a file in a folder."""
    return {path.relative_to(EXAMPLES).with_suffix("").as_posix().replace("/", "-"): path
            for path in example_files()}


def write_example_pages(app: Sphinx) -> None:
    """Write docs/examples/<name>.md for every example, and an index; rewrite only what changed.

    A page whose example is gone loses its source here and its HTML too.
    """
    folder = Path(app.srcdir) / EXAMPLE_PAGES
    folder.mkdir(exist_ok=True)
    pages = {name: example_page(path, Path(app.srcdir)) for name, path in example_page_names().items()}
    index = ["# Examples", "",
             "Every file the chapters run, as the build ran it. "
             "Each script runs on its own with `--help`.", "",
             "```{toctree}", ":maxdepth: 1", "", *pages, "```", ""]
    wanted = {f"{name}.md": text for name, text in pages.items()} | {"index.md": "\n".join(index)}
    for stale in set(p.name for p in folder.glob("*.md")) - set(wanted):
        (folder / stale).unlink()
    for filename, text in wanted.items():
        target = folder / filename
        if not target.exists() or target.read_text() != text:
            atomic_write_text(target, text)  # the test suite's build may read these meanwhile
    remove_stale_example_html(app, {Path(filename).stem for filename in wanted})


def remove_stale_example_html(app: Sphinx, names: set[str]) -> None:
    """Delete the built HTML of example pages that are no longer among *names*.

    Sphinx forgets a page whose source is gone but leaves its HTML in the
    output folder, reachable from no page: a removed or renamed example, or
    an editor's backup once taken for one, stayed in the built book (and the
    browser check failed on it) until someone deleted it by hand. Only the
    generated folder is swept: every page in it comes from this extension.
    """
    suffix = getattr(app.builder, "out_suffix", "")
    if app.builder.format != "html" or not suffix:
        return
    for page in (Path(app.outdir) / EXAMPLE_PAGES).glob(f"*{suffix}"):
        if page.name.removesuffix(suffix) not in names:
            page.unlink()


def point_source_buttons_at_the_example(app: Sphinx, pagename: str, templatename, context, doctree) -> None:
    """On a generated example page, "Show source" and "Suggest edit" open the example's own file.

    The theme links ``docs/examples/<page>.md``, which exists only in the
    build (a 404 in the repository). The example file is what a reader means
    to see or change; the index of examples has no file of its own, so it
    gets no source buttons.
    """
    folder, _, name = pagename.partition("/")
    if folder != EXAMPLE_PAGES:
        return
    example = example_page_names().get(name)
    base = app.config.ftbook_repository_url.rstrip("/")
    for group in context.get("header_buttons", []):
        buttons = group.get("buttons", [])
        for button in list(buttons):
            if button.get("label") not in ("source-file-button", "source-edit-button"):
                continue
            if example is None:
                buttons.remove(button)
                continue
            relative = example.relative_to(EXAMPLES.parent).as_posix()
            kind = "blob" if button["label"] == "source-file-button" else "edit"
            button["url"] = f"{base}/{kind}/main/{relative}" + ("?plain=1" if kind == "blob" else "")


# --------------------------------------------------------------------------
# {repo}`path`: a link into the repository, wherever it is published


def repo_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    base = inliner.document.settings.env.config.ftbook_repository_url.rstrip("/")
    kind = "tree" if text.endswith("/") or "." not in Path(text).name else "blob"
    url = f"{base}/{kind}/main/{text.strip('/')}"
    return [nodes.reference(rawtext, text, refuri=url, classes=["repo-link"])], []


# --------------------------------------------------------------------------
# No raw Markdown on a built page
#
# A blank line inside a Markdown table ends it: the rows after it render as a
# paragraph of literal pipes, and Sphinx builds the page without a warning
# (guarantees once showed two rows that way). The same goes for a ``**`` that
# did not pair up. So the finished pages are read back, as a reader sees them.

_RAW_ROW = re.compile(r"^\s*\|.*\|\s*$")  # "| a | b |": a table row that stayed text
# Text that is code or output, where pipes and ``**`` are what the reader should see.
_VERBATIM_TAGS = {"pre", "code", "kbd", "samp", "script", "style", "textarea"}
_VERBATIM_CLASSES = {"math"}  # MathJax's source, $|x|$
_BLOCK_TAGS = {"p", "div", "li", "dt", "dd", "td", "th", "tr", "table", "section", "br", "hr",
               "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "figcaption", "caption"}


class _ReadableText(HTMLParser):
    """The text of a page outside code, output and math, one line per line of its blocks."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._verbatim: list = []  # [tag, depth] while inside a verbatim element

    def handle_starttag(self, tag, attrs):
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")  # "</td><td>" must not join two cells' text into one line
        if self._verbatim:
            self._verbatim[1] += tag == self._verbatim[0]
        elif tag in _VERBATIM_TAGS or _VERBATIM_CLASSES & set((dict(attrs).get("class") or "").split()):
            self._verbatim = [tag, 1]

    def handle_endtag(self, tag):
        if self._verbatim and tag == self._verbatim[0]:
            self._verbatim[1] -= 1
            if not self._verbatim[1]:
                self._verbatim = []
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._verbatim:
            self.parts.append(data)


def raw_markdown(html: str) -> list[str]:
    """The lines of a built page's readable text that are unrendered Markdown: a table row, or ``**``."""
    reader = _ReadableText()
    reader.feed(html)
    reader.close()
    lines = (line.strip() for line in "".join(reader.parts).splitlines())
    return [line for line in lines if _RAW_ROW.match(line) or "**" in line]


CLEAN_PAGES = ".raw-markdown-clean.json"  # in the output folder: pages found clean, by size and mtime


def check_no_raw_markdown(app: Sphinx, exception: Exception | None) -> None:
    """Warn, once per page, about a built page that shows raw Markdown (``-W``: the build fails).

    Every page is checked, not only those written in this build, so that a
    page keeps failing until it is fixed. A page found clean is remembered
    by its size and modification time (:data:`CLEAN_PAGES`) and read again
    only once it changes: an unchanged rebuild reads none.
    """
    if exception is not None or app.builder.format != "html" or not hasattr(app.builder, "get_outfilename"):
        return
    memo = Path(app.outdir) / CLEAN_PAGES
    try:
        clean_before = json.loads(memo.read_text())
    except (OSError, ValueError):
        clean_before = {}
    clean = {}
    for docname in sorted(app.env.found_docs):
        page = Path(app.builder.get_outfilename(docname))
        try:
            found = page.stat()
        except OSError:
            continue
        identity = [found.st_size, found.st_mtime_ns]
        if clean_before.get(docname) == identity:
            clean[docname] = identity
            continue
        shown = raw_markdown(page.read_text(encoding="utf-8"))
        if shown:
            first = shown[0] if len(shown[0]) <= 80 else shown[0][:77] + "..."
            more = f" and {len(shown) - 1} more" if len(shown) > 1 else ""
            logger.warning("the built page shows raw Markdown (a table row a blank line cut off, or "
                           "unpaired **): %r%s", first, more, location=docname)
        else:
            clean[docname] = identity
    if clean != clean_before:
        # The output folder has one builder at a time (the nox sessions hold its lock); atomic all the same.
        atomic_write_text(memo, json.dumps(clean, indent=0, sort_keys=True))


def setup(app: Sphinx) -> dict:
    app.add_config_value("ftbook_repository_url", "", "env")
    app.add_role("repo", repo_role)
    app.connect("builder-inited", write_example_pages)
    app.connect("source-read", _key_execution_to_inputs)
    # After the theme's own handlers (priority 501), which make the buttons.
    app.connect("html-page-context", point_source_buttons_at_the_example, priority=900)
    app.connect("build-finished", check_no_raw_markdown)
    # Not parallel-read safe: the declared lists reach the kernel through os.environ.
    return {"parallel_read_safe": False, "parallel_write_safe": True}
