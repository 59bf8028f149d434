"""Every example behaves as the book promises a reader: help, bad input, summary, failures."""

import functools
import re
import sys

import pytest

import ftbook.run as run_module
from ftbook.run import (
    COMMON_SUMMARY_KEYS,
    EXAMPLES,
    SummaryContractError,
    example_scripts,
    run_command,
    run_example,
    summary_contract,
)

SCRIPTS = [p.name for p in example_scripts()]
# The examples that run their threads with the harness: a worker's exception must reach their summary.
THREADED = [name for name in SCRIPTS if re.search(r"\brun_threaded\(", (EXAMPLES / name).read_text())]


@functools.cache
def help_of(name):
    outcome = run_example(name, "--help", timeout=30)
    assert outcome.returncode == 0, (name, outcome.describe(), outcome.stderr)
    return outcome.stdout


@pytest.mark.parametrize("name", SCRIPTS)
def test_help(name):
    assert help_of(name).startswith("usage:")


# A typo must cost the reader one line, not a traceback or a usage dump.
@pytest.mark.parametrize("name", SCRIPTS)
@pytest.mark.parametrize("bad", [["--iterations", "many"], ["--timeout", "0"], ["--timeout", "nan"]])
def test_bad_arguments_exit_2_with_one_line(name, bad):
    outcome = run_example(name, *bad, timeout=30)
    assert outcome.returncode == 2
    assert len(outcome.stderr.strip().splitlines()) == 1, outcome.stderr
    assert "error:" in outcome.stderr and "Traceback" not in outcome.stderr


# --threads is bounded: 10**20 once tried to start that many threads (or died
# converting it to a C long), and 257 is past the harness's limit.
@pytest.mark.parametrize("name", SCRIPTS)
def test_threads_out_of_range_exit_2_with_one_line(name):
    if "--threads" not in help_of(name):
        pytest.skip(f"{name} has no --threads")
    for threads in ["0", "-3", "257", "99999999999999999999"]:
        outcome = run_example(name, "--threads", threads, timeout=30)
        assert outcome.returncode == 2, (threads, outcome.describe(), outcome.stderr)
        assert len(outcome.stderr.strip().splitlines()) == 1, outcome.stderr
        assert "argument --threads:" in outcome.stderr and "Traceback" not in outcome.stderr


def replacing_run_threaded(body):
    """A sitecustomize.py replacing the harness's run_threaded with *body*'s (which may call the real one)."""
    return f"""
import sys
sys.path.insert(0, {str(EXAMPLES)!r})
import thread_harness
del sys.path[0]
real_run_threaded = thread_harness.run_threaded
{body}
thread_harness.run_threaded = run_threaded
"""


# Its first worker raises before doing anything.
FAIL_FIRST_WORKER = replacing_run_threaded("""
def run_threaded(workers, **options):
    def fail(run):
        raise RuntimeError("forced by the test")
    return real_run_threaded([fail, *workers[1:]], **options)
""")
# The main thread never comes back: a process wedged the way a corrupted one can be.
WEDGE = replacing_run_threaded("""
def run_threaded(workers, **options):
    import threading
    threading.Event().wait()
""")


# A dead worker used to look like a time-out: its readers waited for it until
# the deadline, and the summary said timed_out. It must be reported as the
# exception it is (exit 4), and the threads waiting for it released at once:
# the example's own --timeout is an hour, and the test gives it one minute.
@pytest.mark.parametrize("name", THREADED)
def test_a_worker_exception_is_reported_as_such(name, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(FAIL_FIRST_WORKER)
    outcome = run_example(name, "--timeout", "3600", "--json", variables={"PYTHONPATH": str(tmp_path)},
                          timeout=60)
    assert not outcome.timed_out, f"{name} waited for its dead worker"
    assert outcome.returncode == 4, (outcome.describe(), outcome.stdout[-2000:], outcome.stderr[-2000:])
    summary = outcome.summary
    assert any("RuntimeError: forced by the test" in error for error in summary["worker_errors"]), summary
    assert summary["timed_out"] is False


# sort-order can leave a dtype freed while a thread still uses it, and one CI run of it hung until its
# parent killed it at 240 s. The example must end itself: faulthandler's watchdog, WEDGED_AFTER seconds
# past --timeout, prints the stacks and exits 1, with no summary line to mistake for a finished run.
def test_a_wedged_numpy_race_ends_itself(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(WEDGE)
    outcome = run_example("numpy_races.py", "--case", "sort-order", "--timeout", "1", "--json",
                          variables={"PYTHONPATH": str(tmp_path)}, timeout=120)
    assert outcome.returncode == 1 and outcome.summary is None, (outcome.describe(), outcome.stdout)
    assert "Timeout (0:00:31)!" in outcome.stderr and "run_threaded" in outcome.stderr, outcome.stderr[-2000:]


def test_repeat_stress_is_clean_on_fixed_numpy():
    outcome = run_example("repeat_stress.py", "--threads", "4", "--iterations", "500", "--json", timeout=120)
    assert outcome.returncode == 0, outcome.stderr
    summary = outcome.summary
    assert summary["gil_enabled"] is False
    assert summary["calls"] == 2000
    assert summary["wrong_shapes"] == summary["wrong_values"] == 0


def test_examples_are_standalone():
    # A reader copies the folder and runs a script: examples import nothing of ours.
    for name in SCRIPTS:
        assert "ftbook" not in (EXAMPLES / name).read_text(), name


# One harness: an example that copies the argument checks, the Parser, the
# GIL expression or its own start/join loop back in has drifted from it.
@pytest.mark.parametrize("name", SCRIPTS)
def test_examples_use_the_one_harness(name):
    text = (EXAMPLES / name).read_text()
    for copied in ("def positive_int", "class Parser", "_is_gil_enabled", "threading.Thread("):
        assert copied not in text, f"{name} has its own {copied!r}: use thread_harness"


def test_help_runs_in_a_copy_of_the_folder(tmp_path):
    # Same point, checked by running a copy from somewhere else, with no
    # PYTHONPATH and no user site-packages. The folder is copied as a whole:
    # every example imports thread_harness.py next to it, and the demo
    # scripts import demo_patterns.py, which compiles metadata_demo.c.
    for source in [*EXAMPLES.glob("*.py"), *EXAMPLES.glob("*.c")]:
        (tmp_path / source.name).write_text(source.read_text())
    for name in SCRIPTS:
        outcome = run_command([sys.executable, "-E", "-s", tmp_path / name, "--help"],
                              timeout=30, cwd=tmp_path)
        assert outcome.returncode == 0, (name, outcome.stderr)


# The summary's keys are a contract: chapters, claims and tests read them by name.
@pytest.mark.parametrize("name", SCRIPTS)
def test_every_example_declares_its_summary_keys(name):
    declared = summary_contract(name)
    assert declared, f"{name} declares no SUMMARY_KEYS"
    assert not declared & COMMON_SUMMARY_KEYS, f"{name} redeclares the harness's keys"


def test_an_undeclared_summary_key_is_refused(tmp_path, monkeypatch):
    # One of the declared keys removed from the contract: the run that writes it is refused by name.
    monkeypatch.setattr(run_module, "summary_contract", lambda example: frozenset({"layout", "dtype"}))
    outcome = run_example("shape_watcher.py", "--iterations", "100", "--json", timeout=60)
    with pytest.raises(SummaryContractError, match="calls"):
        outcome.summary  # noqa: B018 - the property is what refuses
