"""The build: what a chapter runs and its cache key, and the Sphinx extension (see ftbook)."""
