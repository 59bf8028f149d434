"""examples/find_metadata_writes.py on its own fixtures (tests/fixtures/metadata_writes).

Each line the checker must report carries a comment ``expect: KIND`` in the
fixture; every other line must stay unreported. The fixtures are C snippets,
never compiled: the checker reads source text.
"""

import json
import re

import pytest

from ftbook.run import ROOT, run_example

FIXTURES = ROOT / "tests" / "fixtures" / "metadata_writes"


def expected(path):
    """{line: kind} from the ``expect: KIND`` comments of a fixture."""
    return {n: m.group(1) for n, line in enumerate(path.read_text().splitlines(), 1)
            if (m := re.search(r"expect: ([a-z]+)", line))}


def scan(*paths, extra=()):
    outcome = run_example("find_metadata_writes.py", *map(str, paths), "--json", *extra,
                          timeout=60)
    assert outcome.returncode == 0, outcome.stderr
    return outcome.summary


def test_reports_exactly_the_marked_writes():
    fixture = FIXTURES / "flagged.c"
    found = {f["line"]: f["kind"] for f in scan(fixture)["findings"]}
    assert found == expected(fixture)


@pytest.mark.parametrize("rules", ["pointers", "all"])
def test_reports_nothing_in_the_lookalikes(rules):
    summary = scan(FIXTURES / "not_flagged.c", extra=["--rules", rules])
    assert summary["findings"] == [], json.dumps(summary["findings"], indent=1)
    assert not expected(FIXTURES / "not_flagged.c")


def test_names_the_function_and_the_pointer_it_went_through():
    by_line = {f["line"]: f for f in scan(FIXTURES / "flagged.c")["findings"]}
    repeat = by_line[16]
    assert (repeat["function"], repeat["target"], repeat["via"]) == (
        "repeat_before_the_fix", "PyArray_DIMS(aop)", "")
    assert repeat["code"] == "PyArray_DIMS(aop)[axis] = total;  /* expect: index */"
    chained = by_line[52]
    assert chained["function"] == "pointer_arithmetic_and_casts"
    assert (chained["target"], chained["via"]) == ("PyArray_DIMS(a)", "p (line 49) <- last (line 44)")


def test_threads_and_passes_agree():
    # The scan is split over threads; the result must not depend on their timing.
    one = scan(FIXTURES)
    many = scan(FIXTURES, extra=["--threads", "4", "--iterations", "3"])
    assert many["passes"] == 3 and many["findings"] == one["findings"]
    assert one["files"] == 3 and many["race_observed"] is False and many["worker_errors"] == []


def test_exit_code_option():
    outcome = run_example("find_metadata_writes.py", str(FIXTURES / "flagged.c"), "--exit-code",
                          timeout=60)
    assert outcome.returncode == 1
    assert outcome.stdout.strip().splitlines()[-1].startswith("24 write(s) to array or dtype metadata")
    clean = run_example("find_metadata_writes.py", str(FIXTURES / "not_flagged.c"), "--exit-code",
                        timeout=60)
    assert clean.returncode == 0


def test_the_rules_beyond_dims_pointers_with_each_object_s_origin():
    fixture = FIXTURES / "rules.c"
    marked = {n: (m.group(1), m.group(2)) for n, line in enumerate(fixture.read_text().splitlines(), 1)
              if (m := re.search(r"expect: ([a-z]+) origin: ([a-z ]+?) \*/", line))}
    summary = scan(fixture, extra=["--rules", "all"])
    assert {f["line"]: (f["kind"], f["target_origin"]) for f in summary["findings"]} == marked
    assert summary["rules"] == "all"
    by_line = {f["line"]: f for f in summary["findings"]}
    handed_out = by_line[55]  # (*newdims)[...] after *newdims = PyArray_DIMS(self)
    assert (handed_out["target"], handed_out["object"]) == ("PyArray_DIMS(self)", "self")
    assert handed_out["via"].startswith("*newdims (line 54)")


def test_the_first_rules_are_the_default_and_see_none_of_the_new_writes():
    summary = scan(FIXTURES / "rules.c")
    assert summary["findings"] == [] and summary["rules"] == "pointers"
    assert [f["line"] for f in scan(FIXTURES / "flagged.c", extra=["--rules", "all"])["findings"]] == \
        [f["line"] for f in scan(FIXTURES / "flagged.c")["findings"]]


def test_unknown_rules_is_one_line_exit_2():
    outcome = run_example("find_metadata_writes.py", str(FIXTURES), "--rules", "some", timeout=60)
    assert outcome.returncode == 2
    assert len(outcome.stderr.strip().splitlines()) == 1 and "error:" in outcome.stderr


def test_missing_path_is_one_line_exit_2(tmp_path):
    outcome = run_example("find_metadata_writes.py", str(tmp_path / "nope.c"),
                          timeout=60)
    assert outcome.returncode == 2
    assert len(outcome.stderr.strip().splitlines()) == 1 and "error:" in outcome.stderr


@pytest.mark.parametrize("text", [
    '#define X(a) PyArray_DIMS(a)[0] = 1\n',
    'static void f(PyArrayObject *a) { /* PyArray_DIMS(a)[0] = 1; */ }\n',
    'static void f(PyArrayObject *a) { puts("PyArray_DIMS(a)[0] = 1;"); }\n',
    'static int f(PyArrayObject *a) { return PyArray_DIMS(a)[0] == 1; }\n',
])
def test_small_lookalikes(tmp_path, text):
    source = tmp_path / "one.c"
    source.write_text(text)
    assert scan(source)["findings"] == []
