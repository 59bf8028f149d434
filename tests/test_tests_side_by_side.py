"""ftbook.tools.tests_side_by_side: the suite's files in pytest processes side by side."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ftbook.tools import tests_side_by_side as side_by_side


def files(tmp_path: Path, **bodies: str) -> list[Path]:
    paths = []
    for name, body in bodies.items():
        path = tmp_path / f"{name}.py"
        path.write_text(body)
        paths.append(path)
    return paths


def test_the_longest_files_go_first_into_the_group_with_least_work(tmp_path):
    a, b, c, d = files(tmp_path, test_a="", test_b="", test_c="", test_d="")
    durations = {"test_a.py": 10, "test_b.py": 7, "test_c.py": 5, "test_d.py": 4}
    assert side_by_side.split([a, b, c, d], durations, 2) == [[a, d], [b, c]]  # 14 and 12 seconds


def test_the_users_of_the_built_book_stay_in_one_process(tmp_path):
    book = "def test_x(built_book):\n    pass\n"
    paths = files(tmp_path, test_p=book, test_q=book, test_r="", test_s="")
    groups = side_by_side.split(paths, {}, 2)
    assert any({paths[0], paths[1]} <= set(group) for group in groups)
    assert sorted(path for group in groups for path in group) == sorted(paths)  # each file once


def test_one_job_is_one_group_and_more_jobs_than_files_leave_none_empty(tmp_path):
    paths = files(tmp_path, test_a="", test_b="")
    assert side_by_side.split(paths, {}, 1) == [paths]
    assert side_by_side.split(paths, {}, 5) == [[paths[0]], [paths[1]]]


# Each group's test waits for the other group's test to have started: they meet only if the two pytest
# processes run at once. A rendezvous, not two sleeps that should overlap: on a busy machine one
# process can take longer to start than the other takes to finish (CI's benchmark run saw it).
MEETER = """
import pathlib, time

def test_meets_the_other_group():
    here = pathlib.Path(__file__)
    here.with_suffix(".started").touch()
    partner = here.with_name("{partner}.started")
    deadline = time.monotonic() + 120
    while not partner.exists():
        assert time.monotonic() < deadline, "the other group's test never ran while this one did"
        time.sleep(0.05)
"""


def test_groups_run_at_once_and_a_failure_is_reported_with_its_summary(tmp_path, capsys):
    first, second, failing = files(tmp_path, test_one=MEETER.format(partner="test_two"),
                                   test_two=MEETER.format(partner="test_one"),
                                   test_three="def test_fails():\n    assert 1 == 2\n")
    status, seconds = side_by_side.run([[first], [second, failing]], sys.executable, ["-q", "-ra"])
    assert status == 1
    output = capsys.readouterr().out
    assert re.search(r"^==> group 1: 1 passed in", output, re.MULTILINE), output  # it met group 2's
    assert re.search(r"^==> group 2: 1 failed, 1 passed in", output, re.MULTILINE), output
    assert "FAILED" in output and "test_fails" in output
    assert set(seconds) == {"test_one.py", "test_two.py", "test_three.py"}


def test_seconds_are_read_per_test_file_whatever_folders_are_called(tmp_path):
    junit = tmp_path / "report.xml"
    junit.write_text('<testsuites><testsuite>'
                     '<testcase classname="test_pytest_made_this_0.test_one" name="test_a" time="1.5"/>'
                     '<testcase classname="tests.test_claims.TestClaims" name="test_b" time="2.0"/>'
                     '<testcase classname="tests.test_claims" name="test_c" time="0.5"/>'
                     '</testsuite></testsuites>')
    assert side_by_side.file_seconds(junit) == {"test_one.py": 1.5, "test_claims.py": 2.5}


def test_every_test_file_is_in_exactly_one_group():
    groups = side_by_side.split(side_by_side.test_files(), side_by_side.recorded(), 2)
    placed = [path for group in groups for path in group]
    assert sorted(placed) == side_by_side.test_files()
