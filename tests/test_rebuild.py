"""Outputs cannot go stale: a chapter re-executes exactly when something it runs changes.

A two-chapter book in a temporary copy of the project: chapter ``a`` runs
``finalize_window.py``, chapter ``b`` runs ``repeat_stress.py``. Editing one
example must re-execute the chapter that runs it and leave the other cached;
an unchanged rebuild executes nothing; ``rerun_all`` executes both. (The real
book is built from scratch once per session by ``built_book``; this keeps
the check to a few seconds of kernel start-up.)
"""

import re
import sys
from pathlib import Path

import pytest

from ftbook.build.inputs import rerun_all
from ftbook.run import run_command

CONF = '''
import os, sys
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ["PYTHONPATH"] = str(HERE.parent)  # the kernel imports this copy's ftbook, not the project's
extensions = ["myst_nb", "ftbook.build.sphinxext"]
nb_execution_mode = "cache"
nb_execution_cache_path = str(HERE / "_build" / ".jupyter_cache")
nb_execution_raise_on_error = True
exclude_patterns = ["_build", "examples"]
'''
CHAPTER = '''---
file_format: mystnb
kernelspec:
  name: python3
  display_name: Python 3
---

# Chapter {name}

```{{code-cell}} ipython3
from ftbook.run import run_example
assert run_example("{example}", "--help", timeout=60).returncode == 0
```
'''


@pytest.fixture
def tiny_book(project_copy):
    """A copy of ftbook/ and examples/ with a two-chapter book next to them."""
    tmp_path = project_copy
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "conf.py").write_text(CONF)
    (docs / "index.md").write_text("# Tiny\n\n```{toctree}\na\nb\n```\n")
    (docs / "a.md").write_text(CHAPTER.format(name="a", example="finalize_window.py"))
    (docs / "b.md").write_text(CHAPTER.format(name="b", example="repeat_stress.py"))
    return tmp_path


def build(book: Path, *extra: str) -> set[str]:
    """Build the tiny book; return the chapters that were executed."""
    docs = book / "docs"
    outcome = run_command([sys.executable, "-m", "sphinx", "-b", "html", *extra,
                           "-d", docs / "_build" / "doctrees", docs, docs / "_build" / "html"], timeout=600)
    assert outcome.returncode == 0, outcome.stdout[-3000:] + outcome.stderr[-3000:]
    return set(re.findall(r"/(\w+)\.md: Executed notebook", outcome.stdout + outcome.stderr))


def test_a_chapter_reexecutes_when_the_example_it_runs_changes(tiny_book):
    assert build(tiny_book) == {"a", "b"}
    assert build(tiny_book) == set()  # unchanged: nothing executed
    with open(tiny_book / "examples" / "finalize_window.py", "a") as script:
        script.write("# an edit\n")
    assert build(tiny_book) == {"a"}  # b does not run finalize_window.py: it stays cached
    with open(tiny_book / "examples" / "thread_harness.py", "a") as script:
        script.write("# an edit both examples import\n")
    assert build(tiny_book) == {"a", "b"}


def test_rerun_all_executes_every_chapter(tiny_book):
    assert build(tiny_book) == {"a", "b"}
    cache = tiny_book / "docs" / "_build" / ".jupyter_cache"
    assert build(tiny_book, *rerun_all(cache)) == {"a", "b"}
    assert build(tiny_book) == set()  # and the cache it refilled serves the next build
