"""Every example behaves as the book promises a reader: help, bad input, summary."""

import sys

import pytest

from ftbook.run import EXAMPLES, run, run_example

SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))


def test_there_are_examples():
    assert SCRIPTS


@pytest.mark.parametrize("name", SCRIPTS)
def test_help(name):
    outcome = run_example(name, "--help", timeout=30)
    assert outcome.returncode == 0 and outcome.stdout.startswith("usage:")


@pytest.mark.parametrize("name", SCRIPTS)
@pytest.mark.parametrize("bad", [["--threads", "0"], ["--threads", "-3"], ["--iterations", "many"], ["--timeout", "0"]])
def test_bad_arguments_exit_2_with_one_line(name, bad):
    outcome = run_example(name, *bad, timeout=30)
    assert outcome.returncode == 2
    assert len(outcome.stderr.strip().splitlines()) == 1, outcome.stderr
    assert "error:" in outcome.stderr and "Traceback" not in outcome.stderr


def test_repeat_stress_is_clean_on_fixed_numpy():
    outcome = run_example("repeat_stress.py", "--threads", "4", "--iterations", "500", "--json", timeout=120)
    assert outcome.returncode == 0, outcome.stderr
    summary = outcome.summary
    assert summary["gil_enabled"] is False
    assert summary["calls"] == 2000
    assert summary["wrong_shapes"] == summary["wrong_values"] == 0


def test_examples_are_standalone():
    # A reader copies one file and runs it: examples import nothing of ours.
    for name in SCRIPTS:
        assert "ftbook" not in (EXAMPLES / name).read_text(), name


def test_help_runs_without_the_project_on_the_path(tmp_path):
    # Same point, checked by running a copy from somewhere else. The folder is
    # copied as a whole: scripts built on the demo extension import
    # demo_patterns.py, which compiles metadata_demo.c; the three travel together.
    for source in [*EXAMPLES.glob("*.py"), *EXAMPLES.glob("*.c")]:
        (tmp_path / source.name).write_text(source.read_text())
    for name in SCRIPTS:
        outcome = run([sys.executable, "-I", tmp_path / name, "--help"], timeout=30)
        assert outcome.returncode == 0, (name, outcome.stderr)
