"""The build: what a chapter runs and its cache key, and the Sphinx extension (see ftbook)."""

CELL_TIMEOUT = 300  # seconds per executed cell: the book's (docs/conf.py) and nox -s chapter's
