"""examples/pytest_runs.py counts how each pytest process ended, and a hung one costs only its own limit."""

import textwrap

from ftbook.run import run_example

TESTS = textwrap.dedent("""
    import os
    import time


    def test_passes():
        pass


    def test_fails():
        raise ValueError("lengths differ")


    def test_reports_like_tsan():  # what an instrumented build prints to the process's stderr
        for kind in ("data race", "data race"):
            os.write(2, f"WARNING: ThreadSanitizer: {kind} (pid={os.getpid()})\\n".encode())


    def test_reports_a_race_then_its_aftermath():  # a race that corrupts memory: many reports after the first
        report = ("==================\\nWARNING: ThreadSanitizer: data race (pid=1)\\n  {}\\n"
                  + "#0 f\\n" * 100)
        os.write(2, report.format("the first race").encode())
        for number in range(200):
            os.write(2, report.format(f"aftermath {number}").encode())
        os.write(2, b"how the run ended\\n")


    def test_exits_like_tsan():  # halt_on_error=1: the first report, then TSAN's exit status
        os.write(2, b"WARNING: ThreadSanitizer: data race (pid=1)\\n")
        os._exit(66)


    def test_hangs():
        time.sleep(600)  # as a dying interpreter can: nothing more happens
""")


def runs_of(tmp_path, selection, *options, pytest=()):
    test_file = tmp_path / "test_three_ways.py"
    test_file.write_text(TESTS)
    return run_example("pytest_runs.py", *options, "--copy-test", test_file, "--json", "--", "-k", selection,
                       *pytest, timeout=120)


def test_a_hung_run_is_killed_counted_and_the_next_run_still_happens(tmp_path):
    outcome = runs_of(tmp_path, "test_hangs", "--runs", "2", "--run-timeout", "3")
    summary = outcome.summary
    assert [run["ended"] for run in summary["runs"]] == ["timed out", "timed out"], summary["runs"]
    assert summary["runs_timed_out"] == 2 and summary["other"] == summary["passed"] == 0
    assert all(run["error"] == "killed after 3 s" and run["tally"] == run["failures"] == run["tests"] == {}
               for run in summary["runs"])
    assert summary["timed_out"] is True and outcome.returncode == 3, outcome.describe()


def test_passes_and_failures_are_told_apart(tmp_path):
    passed = runs_of(tmp_path, "test_passes", "--runs", "2").summary
    assert passed["passed"] == 2 and passed["failed"] == passed["runs_timed_out"] == 0
    assert passed["runs"][0]["tally"] == {"passed": 1, "deselected": 5}, passed["runs"][0]
    failed = runs_of(tmp_path, "test_fails", "--runs", "1")
    assert failed.summary["failed"] == 1 and failed.returncode == 1
    assert failed.summary["runs"][0]["tally"] == {"failed": 1, "deselected": 5}
    both = runs_of(tmp_path, "test_fails or test_passes", "--runs", "1").summary["runs"][0]
    assert both["ended"] == "failed" and both["tally"] == {"failed": 1, "passed": 1, "deselected": 4}, both
    assert failed.summary["runs"][0]["error"] == "ValueError: lengths differ"
    # Each failed test by name, with its message; a passing test is not among them.
    assert both["failures"] == {"test_three_ways.py::test_fails": "ValueError: lengths differ"}, both
    assert passed["runs"][0]["failures"] == {}


def test_a_failure_keeps_its_message_after_a_long_test_name(tmp_path):
    test_file = tmp_path / "test_named_at_length.py"
    test_file.write_text("def test_" + "a_name_longer_than_a_terminal_line_" * 3 + "x():\n"
                         "    assert 1 == 2, 'the message'\n")
    (run,) = run_example("pytest_runs.py", "--runs", "1", "--copy-test", test_file, "--json",
                         timeout=120).summary["runs"]
    (message,) = run["failures"].values()
    assert "the message" in message, run


def test_tests_named_by_node_id_in_several_copied_files_run_alone_and_each_ending_is_kept(tmp_path):
    other = tmp_path / "test_other.py"
    other.write_text("def test_elsewhere():\n    pass\n\ndef test_not_asked_for():\n    pass\n")
    test_file = tmp_path / "test_three_ways.py"
    test_file.write_text(TESTS)
    asked = ["test_three_ways.py::test_fails", "test_three_ways.py::test_passes",
             "test_other.py::test_elsewhere"]
    outcome = run_example("pytest_runs.py", "--runs", "1", "--copy-test", test_file, "--copy-test", other,
                          "--json", "--", "-rA", *asked, timeout=120)
    (run,) = outcome.summary["runs"]
    assert run["tests"] == dict(zip(asked, ["failed", "passed", "passed"], strict=True)), run
    assert run["tally"] == {"failed": 1, "passed": 2}, run  # nothing else was collected


def test_all_runs_stop_at_the_overall_limit(tmp_path):
    outcome = runs_of(tmp_path, "test_hangs", "--runs", "5", "--run-timeout", "60", "--timeout", "3")
    summary = outcome.summary
    assert len(summary["runs"]) == 1 and summary["runs"][0]["ended"] == "timed out", summary["runs"]
    assert outcome.returncode == 3


def test_sanitizer_reports_are_counted_and_kept_when_asked(tmp_path):
    # -s: pytest would otherwise capture fd 2, and drop a passing test's output with the reports in it
    kept = runs_of(tmp_path, "test_reports_like_tsan", "--runs", "1", "--keep-stderr",
                  pytest=["-s"]).summary["runs"][0]
    assert kept["ended"] == "passed" and kept["tsan_reports"] == 2, kept
    assert kept["stderr"].count("WARNING: ThreadSanitizer: data race") == 2
    counted = runs_of(tmp_path, "test_reports_like_tsan", "--runs", "1", pytest=["-s"]).summary["runs"][0]
    assert counted["tsan_reports"] == 2 and "stderr" not in counted, counted


def test_a_long_stderr_keeps_its_first_reports_and_its_end(tmp_path):
    # the first report names the race; the last ones are its aftermath
    kept = runs_of(tmp_path, "test_reports_a_race_then_its_aftermath", "--runs", "1", "--keep-stderr",
                  pytest=["-s"]).summary["runs"][0]
    assert kept["tsan_reports"] == 201, kept["tsan_reports"]
    assert "the first race" in kept["stderr"] and "how the run ended" in kept["stderr"]
    assert "aftermath 199" in kept["stderr"] and "aftermath 100" not in kept["stderr"]
    assert "output left out" in kept["stderr"] and len(kept["stderr"]) < 61_000


def test_a_run_tsan_ended_is_counted_as_such(tmp_path):
    outcome = runs_of(tmp_path, "test_exits_like_tsan", "--runs", "1", pytest=["-s"])
    run = outcome.summary["runs"][0]
    assert run["ended"] == "stopped by ThreadSanitizer (exit 66)" and run["tsan_reports"] == 1, run
    assert outcome.summary["sanitizer_stopped"] == 1 and outcome.summary["other"] == 0
    assert outcome.returncode == 1, outcome.describe()  # a race observed


def test_runs_until_reported_stop_at_the_first_report_and_not_before(tmp_path):
    reported = runs_of(tmp_path, "test_reports_like_tsan", "--runs", "4", "--until-reported", pytest=["-s"])
    assert len(reported.summary["runs"]) == 1 and reported.summary["runs"][0]["tsan_reports"] == 2
    silent = runs_of(tmp_path, "test_passes", "--runs", "3", "--until-reported").summary
    assert silent["passed"] == 3  # nothing reported: every run asked for
