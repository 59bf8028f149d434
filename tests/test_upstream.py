"""The issue and pull-request texts: made from the patch and the runs, and only from them."""

from pathlib import Path

import pytest

from ftbook.claims.finding_races_fixing_todays_races import ADDED_TESTS, PATCHED
from ftbook.provision.instrumented import patches_of
from ftbook.upstream import (
    PROPOSAL,
    how_runs_ended,
    issue_text,
    pull_request_text,
    read_patch,
    upstream_issue,
    what_the_release_said,
)

FIXTURES = Path(__file__).parent / "fixtures" / "tsan"
PATCH = """BUG: a title

What goes wrong, over
two lines.

Why this remedy.

Remedy: copy, then modify.

--- a/numpy/x.c
+++ b/numpy/x.c
@@ -1 +1 @@
-old
+new
--- a/numpy/_core/tests/test_multithreading.py
+++ b/numpy/_core/tests/test_multithreading.py
@@ -1,2 +1,12 @@
 import numpy as np
+@pytest.mark.parametrize("how", ["a", "b"])
+def test_first(how):
+    assert how
+
+
+def test_second():
+    def helper():
+        pass
+    helper()
+
 def test_already_there():
"""


def run(ended="failed", tally=None, failures=None, reports=0, stderr=""):
    return {"ended": ended, "tally": tally or {}, "failures": failures or {}, "tsan_reports": reports,
            "stderr": stderr}


@pytest.fixture
def patch(tmp_path):
    path = tmp_path / "0001-a.patch"
    path.write_text(PATCH)
    return read_patch(path)


def test_a_patch_is_read_into_its_parts_and_its_added_tests_whole(patch):
    assert patch.title == "BUG: a title" and patch.remedy == "copy, then modify."
    assert patch.explanation == ["What goes wrong, over two lines.", "Why this remedy."]
    assert list(patch.tests) == ["test_first", "test_second"]  # the context line's test is not added
    assert patch.tests["test_first"].startswith('@pytest.mark.parametrize("how"')  # with its decorator
    assert "helper()" in patch.tests["test_second"] and "test_already_there" not in patch.tests["test_second"]
    assert patch.files == ["numpy/x.c", "numpy/_core/tests/test_multithreading.py"]


def test_a_patch_without_its_remedy_or_diff_says_which(tmp_path):
    path = tmp_path / "bad.patch"
    path.write_text(PATCH.replace("Remedy: ", ""))
    with pytest.raises(ValueError, match="bad.patch: needs one paragraph that starts 'Remedy: '"):
        read_patch(path)
    path.write_text(PATCH.split("--- a/")[0])
    with pytest.raises(ValueError, match="no diff"):
        read_patch(path)


def test_the_books_patches_are_in_the_form_and_their_tests_are_what_the_chapter_runs():
    for path in patches_of(PATCHED):
        patch = read_patch(path)
        assert patch.title.startswith("BUG: ") and patch.explanation and patch.remedy, path.name
        assert list(patch.tests) == ADDED_TESTS[path.name] and all(patch.tests.values()), path.name
    # ufunc.at's flags writes (the issue), and the writeable setter against readers (a comment on it)
    assert [upstream_issue(read_patch(path)) for path in patches_of(PATCHED)].count("numpy/numpy#30540") == 2


def test_what_the_release_said_is_the_tests_own_failure_or_the_race_it_guards():
    failing = {"runs": [run(failures={"t.py::test_first[a]": "AssertionError: one",
                                      "t.py::test_first[b]": "AssertionError: one",
                                      "t.py::test_other": "ValueError: not ours"})]}
    assert what_the_release_said(failing, "test_first", None) == "AssertionError: one"
    assert what_the_release_said(failing, "test_second", None) == "(pytest printed no failure for it)"
    text = (FIXTURES / "numpy-2.2.1-flat-byteorder.txt").read_text()
    raced = {"runs": [run(ended="stopped by ThreadSanitizer (exit 66)", reports=2, stderr=text)]}
    said = what_the_release_said(raced, "test_x", "PyArray_CheckFromAny_int")
    assert said.startswith("WARNING: ThreadSanitizer: data race") and "PyArray_CheckFromAny_int" in said
    assert what_the_release_said(raced, "test_x", "no_such_function") == "(no report in 1 run)"


def test_the_race_quoted_is_the_one_the_function_writes_even_when_a_race_through_it_comes_first():
    text = (FIXTURES / "numpy-2.2.1-flat-byteorder.txt").read_text()
    byteorder, flags = text.split("==================\n==================\n")  # as TSAN printed them
    flags_first = flags + "==================\n" + byteorder + "==================\n"
    summary = {"runs": [run(reports=2, stderr=flags_first)]}
    said = what_the_release_said(summary, "test_x", "PyArray_CheckFromAny_int")
    assert "ctors.c:1843" in said  # the byte-order write, not the flags write the other race is about


def test_how_runs_ended_counts_what_pytest_and_tsan_said():
    clean = {"runs": [run("passed", {"passed": 2, "deselected": 5})]}
    assert how_runs_ended(clean, None) == "passed (2 passed); no TSAN report"
    text = (FIXTURES / "numpy-2.2.1-flat-byteorder.txt").read_text()
    raced = {"runs": [run("stopped by ThreadSanitizer (exit 66)", {"passed": 1}, reports=3, stderr=text)]}
    assert how_runs_ended(raced, "PyArray_CheckFromAny_int") == (
        "stopped by ThreadSanitizer (1 passed); 3 TSAN reports, "
        "among them the race in `PyArray_CheckFromAny_int`")
    once = {"runs": [run("stopped by ThreadSanitizer (exit 66)", {"passed": 1}, reports=1, stderr=text)]}
    assert how_runs_ended(once, None) == "stopped by ThreadSanitizer (1 passed); 1 TSAN report"
    assert how_runs_ended(once, "PyArray_CheckFromAny_int") == (
        "stopped by ThreadSanitizer (1 passed); 1 TSAN report: the race in `PyArray_CheckFromAny_int`")


def test_the_texts_say_they_are_proposals_and_carry_the_evidence(patch):
    versions = {"numpy": "2.5.5", "python": "3.14.7", "gil_enabled": False}
    said = {"test_first": "AssertionError: one", "test_second": "(no report in 3 runs)"}
    issue = issue_text(patch, said, versions, build=["pip wheel ..."], run=["python -m pytest x"])
    assert PROPOSAL in issue and issue.startswith("# a title\n")
    assert patch.tests["test_first"].strip() in issue and "AssertionError: one" in issue
    assert "What goes wrong, over two lines." in issue and "Why this remedy." not in issue  # the issue: what
    assert "NumPy 2.5.5, CPython 3.14.7" in issue
    assert "pip wheel ..." in issue and "python -m pytest x" in issue
    ended = {"test_first": ("failed (2 failed)", "passed (2 passed)"), "test_second": ("a", "b")}
    pull = pull_request_text(patch, ended, versions)
    assert PROPOSAL in pull and "**Why this remedy:** copy, then modify." in pull
    assert "`test_first`: on NumPy 2.5.5 as released, failed (2 failed); with this patch, passed" in pull
    assert "Closes the issue drafted with it." in pull and "- `numpy/x.c`" in pull


def test_a_patch_naming_a_numpy_issue_closes_it_unless_another_shares_it(tmp_path):
    path = tmp_path / "0004-b.patch"
    path.write_text(PATCH.replace("BUG: a title", "BUG: a title (gh-30540)"))
    patch = read_patch(path)
    assert upstream_issue(patch) == "numpy/numpy#30540"
    pull = pull_request_text(patch, {test: ("x", "y") for test in patch.tests}, {"numpy": "2.5.5"})
    assert "Closes numpy/numpy#30540." in pull
    other_path = tmp_path / "0005-c.patch"
    other_path.write_text(path.read_text())
    other = read_patch(other_path)
    shared = pull_request_text(patch, {test: ("x", "y") for test in patch.tests}, {"numpy": "2.5.5"},
                               sharing=(other,))
    assert "Part of numpy/numpy#30540, with `0005-c.patch`." in shared and "Closes" not in shared
