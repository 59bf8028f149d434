"""A failed build says last what failed: the chapter, its cell, and the error, in a few lines.

A one-chapter book is built the way the docs session builds (``-W
--keep-going -w FILE``); its cell fails, and :func:`digest` must find the
failure in Sphinx's warnings file. One chapter raises from a claim-like
module, one runs past the cell timeout.
"""

import sys
from pathlib import Path

import pytest

from ftbook.build.failures import CELL_LINES, digest, main
from ftbook.run import run_command

CONF = '''
extensions = ["myst_nb"]
nb_execution_mode = "cache"
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 5
exclude_patterns = ["_build"]
'''
HEADER = ("---\nfile_format: mystnb\nkernelspec:\n  name: python3\n  display_name: Python 3\n---\n\n"
          "# {title}\n\n")
RAISES = HEADER.format(title="Raises") + '''```{{code-cell}} ipython3
import importlib.util
spec = importlib.util.spec_from_file_location("claims_demo", {module!r})
claims_demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(claims_demo)
claims_demo.the_race_is_reported(attempts=3)
```
'''
CLAIM = '''
def the_race_is_reported(attempts):
    found = []
    assert found, f"no race naming array_setflags in {attempts} attempts"
'''
SLEEPS = HEADER.format(title="Sleeps") + "```{code-cell} ipython3\nimport time\ntime.sleep(60)\n```\n"


def build_failing(tmp_path: Path, chapter: str) -> str:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "conf.py").write_text(CONF)
    (docs / "index.md").write_text(chapter)
    warnings = tmp_path / "warnings.log"
    outcome = run_command([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going",
                           "-w", warnings, docs, docs / "_build" / "html"], timeout=300)
    assert outcome.returncode != 0, outcome.stdout[-2000:]
    return warnings.read_text()


def test_the_digest_names_the_chapter_the_cell_the_claim_and_its_message(tmp_path):
    module = tmp_path / "ftbook" / "claims_demo.py"  # a path like the book's claims'
    module.parent.mkdir()
    module.write_text(CLAIM)
    text = digest(build_failing(tmp_path, RAISES.format(module=str(module))))
    lines = text.splitlines()
    assert lines[0].startswith("FAILED ") and "index.md" in lines[0], text
    assert "    import importlib.util" in lines, text
    assert f"    ... ({5 - CELL_LINES} more line)" in lines, text  # the cell is cut, and says so
    assert any("ftbook/claims_demo.py" in line and "the_race_is_reported" in line for line in lines), text
    # the error is the last line: nothing of the build after it
    assert lines[-1] == "    AssertionError: no race naming array_setflags in 3 attempts", text
    assert "\x1b[" not in text  # no terminal colours in a CI log


def test_the_digest_names_a_cell_that_timed_out(tmp_path):
    text = digest(build_failing(tmp_path, SLEEPS))
    assert "FAILED " in text and "time.sleep(60)" in text, text
    assert "CellTimeoutError" in text and "5 seconds" in text, text
    assert "Versions" not in text, text  # Sphinx's crash report follows the warning; it is not the chapter's


@pytest.mark.parametrize("warnings", ["", "docs/a.md: WARNING: a plain warning\n  with a second line\n"])
def test_a_build_without_a_failed_chapter_has_an_empty_digest(warnings):
    assert digest(warnings) == ""


def test_the_command_reports_a_missing_file_in_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "absent.log")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "absent.log" in err
