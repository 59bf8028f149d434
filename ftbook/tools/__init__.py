"""Tools for contributors: one chapter, what runs what, chapter lint, the browser check (see ftbook)."""
