"""Pages a reader finishes: the words each built page shows without opening anything, against its budget.

    python -m ftbook.tools.words docs/_build/html          # every page: words, budget, verdict
    python -m ftbook.tools.words docs/_build/html --json   # the same, one JSON object

What counts is what a reader reads on arrival: prose, headings, tables and
cell outputs. Code does not (cell inputs, code blocks: a reader scans them,
and copies them), nor what sits in a collapsed dropdown or a hidden cell
(only its one-line title), nor the navigation.

The budget of a page comes from the part of the book it is in, read from the
tables of contents (``docs/index.md``'s toctree captions, and the toctrees of
a part's index page for its pages): the landing page :data:`LANDING`, a page
of the case study :data:`CASE`, any other chapter :data:`CHAPTER`; the
Reference and the Appendix are exempt. On every page, exempt or not, a table
of more than :data:`LONG_TABLE` rows must be collapsed (inside a dropdown)
or offered as a download instead.

Exit status 1 when a page is over its budget or shows a long table, with
one line per offence.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from pathlib import Path

LANDING = 400
CASE = 2000
CHAPTER = 2500
LONG_TABLE = 30  # rows: more is a reference to look things up in, not something to read on arrival
CASE_PART = "The case"
EXEMPT_PARTS = ("Reference", "Appendix")

DOCS = Path(__file__).resolve().parents[2] / "docs"
_TOCTREE = re.compile(r"^```\{toctree\}\n(.*?)^```", re.M | re.S)
_WORD = re.compile(r"[\w'’.-]*\w")


def toctrees(source: Path, docs: Path = DOCS) -> list[tuple[str | None, list[str]]]:
    """``(caption, [docname, ...])`` for each toctree of a MyST page, docnames relative to docs/."""
    found = []
    for block in _TOCTREE.finditer(source.read_text()):
        caption, entries = None, []
        for line in block.group(1).splitlines():
            line = line.strip()
            if line.startswith(":caption:"):
                caption = line.removeprefix(":caption:").strip()
            elif line and not line.startswith(":"):
                target = re.sub(r"^.*<(.+)>$", r"\1", line)  # "Title <docname>"
                relative = (source.parent / target).resolve().relative_to(docs.resolve())
                entries.append(relative.as_posix())
        found.append((caption, entries))
    return found


def parts(docs: Path = DOCS) -> dict[str, str]:
    """``{docname: caption of the part it is in}``, following a part's index page to its pages."""
    placed: dict[str, str] = {}

    def place(docname: str, caption: str) -> None:
        if docname in placed:
            return
        placed[docname] = caption
        source = docs / f"{docname}.md"
        if source.is_file():
            for _, entries in toctrees(source, docs):
                for entry in entries:
                    place(entry, caption)

    for caption, entries in toctrees(docs / "index.md", docs):
        for entry in entries:
            place(entry, caption or "")
    return placed


def budget(docname: str, placed: dict[str, str]) -> int | None:
    """The most words *docname* may show; None when its part is exempt."""
    if docname == "index":
        return LANDING
    part = placed.get(docname, "")
    if part in EXEMPT_PARTS or docname.startswith("examples/"):  # an example page is its file
        return None
    return CASE if part == CASE_PART else CHAPTER


@dataclasses.dataclass
class Page:
    docname: str
    words: int
    budget: int | None
    long_tables: list[int]  # the row counts of visible tables over LONG_TABLE rows

    @property
    def problems(self) -> list[str]:
        found = []
        if self.budget is not None and self.words > self.budget:
            found.append(f"{self.docname}: {self.words} words on arrival, over its budget of {self.budget}: "
                         "cut it, split it, or move evidence into a collapsed dropdown")
        found += [f"{self.docname}: a table of {rows} rows on arrival (over {LONG_TABLE}): collapse it "
                  "in a dropdown with a one-line summary above it, or offer it as a download"
                  for rows in self.long_tables]
        return found


def visible_article(html: str):
    """The page's article with everything a reader does not read on arrival removed."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    article = soup.select_one("article.bd-article") or soup.select_one("main") or soup
    for closed in article.select("details:not([open])"):
        title = closed.find("summary")
        closed.replace_with(title.get_text(" ") if title else "")
    unread = ["script", "style", ".cell_input", ".headerlink", ".toctree-wrapper", ".sd-d-none"]
    for node in article.select(", ".join(unread)):
        node.decompose()
    for code in article.select("div.highlight, pre"):  # code blocks; a cell's output is read
        if code.find_parent(class_="cell_output") is None:
            code.decompose()
    return article


def measure(path: Path, docname: str, placed: dict[str, str]) -> Page:
    article = visible_article(path.read_text(encoding="utf-8"))
    words = len(_WORD.findall(article.get_text(" ")))
    long_tables = [rows for table in article.select("table")
                   if (rows := len(table.select("tbody tr") or table.select("tr")[1:])) > LONG_TABLE]
    return Page(docname, words, budget(docname, placed), long_tables)


def measure_book(html: Path, docs: Path = DOCS) -> list[Page]:
    placed = parts(docs)
    pages = []
    for path in sorted(html.rglob("*.html")):
        docname = path.relative_to(html).with_suffix("").as_posix()
        if docname in ("genindex", "search", "py-modindex") or docname.startswith(("_", "examples/")):
            continue
        pages.append(measure(path, docname, placed))
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftbook.tools.words",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="the built book (docs/_build/html)")
    parser.add_argument("--json", action="store_true", help="print {page: {words, budget}} as JSON")
    args = parser.parse_args(argv)
    if not (args.html / "index.html").is_file():
        print(f"error: {args.html} is not a built book (no index.html): run ./nox -s docs first",
              file=sys.stderr)
        return 2
    pages = measure_book(args.html)
    problems = [problem for page in pages for problem in page.problems]
    if args.json:
        print(json.dumps({page.docname: {"words": page.words, "budget": page.budget} for page in pages}))
    else:
        for page in pages:
            limit = "exempt" if page.budget is None else f"of {page.budget}"
            print(f"{page.words:6} {limit:>8}  {page.docname}")
        for problem in problems:
            print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
