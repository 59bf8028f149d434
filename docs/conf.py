"""Sphinx configuration for the book.

Chapters are MyST notebooks executed by myst-nb on the kernel of the
environment Sphinx runs in: the free-threaded 3.14t environment that
``nox -s docs`` makes. Execution results are cached (jupyter-cache) under a
key that covers a chapter's code cells and everything it runs (examples,
ftbook modules, environments; see ftbook.build.sphinxext), so a chapter re-runs
exactly when one of those changes. ``nox -s docs -- --rerun-all`` re-runs
every chapter.
"""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # ftbook, for the chapters' helper cells

from ftbook.build import CELL_TIMEOUT  # noqa: E402 - importable only after the line above

project = "Metadata thread safety under free-threaded Python"
author = "The ft-metadata-book contributors"
copyright = "2026, " + author
# Where the sources are published; the theme's repository and edit buttons
# point here. Forks and mirrors override it without editing this file.
repository_url = os.environ.get("FTBOOK_REPOSITORY_URL", "https://github.com/ft-metadata-book/ft-metadata-book")
ftbook_repository_url = repository_url  # the {repo} role's links (ftbook.build.sphinxext)

extensions = [
    "myst_nb",
    "ftbook.build.sphinxext",  # re-execute a chapter when an example or environment it runs changes
    "ftbook.build.reader_view",  # no visible code cell runs the book's own machinery
    "sphinx_copybutton",
    "sphinx_design",
]

exclude_patterns = ["_build", "**.ipynb_checkpoints", "README.md"]
nitpicky = True

# --- MyST and execution ---------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath", "attrs_inline", "substitution"]
myst_heading_anchors = 3

nb_execution_mode = "cache"
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache")
nb_execution_timeout = CELL_TIMEOUT  # seconds, per cell: every cell is bounded
nb_execution_raise_on_error = True  # a failing cell fails the build
nb_execution_show_tb = True  # ...and prints the traceback in the log
nb_merge_streams = True
# Cells return tables as Markdown (IPython.display.Markdown); the default
# "commonmark" renderer has no tables and prints their pipes as text.
nb_render_markdown_format = "myst"
nb_execution_in_temp = False  # cells run in the chapter's folder

# --- HTML -------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "Metadata thread safety under free-threaded Python"
html_static_path = ["_static"]  # tracked in git: a missing folder is a warning, and warnings fail the build
html_css_files = ["ftbook.css"]
html_last_updated_fmt = "%Y-%m-%d"
html_theme_options = {
    "repository_url": repository_url,
    "repository_branch": "main",
    "path_to_docs": "docs",
    "use_repository_button": True,
    "use_edit_page_button": True,
    "use_issues_button": True,
    "use_source_button": True,
    "use_download_button": True,
    "show_toc_level": 2,
    "home_page_in_toc": True,
}
# The theme reads its light/dark default from here; left empty, its script
# logs "Got invalid theme mode" as a console error on a reader's first visit.
html_context = {"default_mode": "auto"}
copybutton_exclude = ".linenos, .gp, .go"  # copy code, not prompts or output

linkcheck_timeout = 15
linkcheck_retries = 1
