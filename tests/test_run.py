"""The subprocess runner turns crashes and hangs into results."""

import sys
import threading

from ftbook.run import SIDE_BY_SIDE, Outcome, run_command, run_side_by_side


def test_crash_is_reported_as_its_signal():
    crash = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    outcome = run_command([sys.executable, "-c", crash], timeout=30)
    assert outcome.signal == "SIGSEGV" and not outcome.timed_out
    assert outcome.describe() == "killed by SIGSEGV"


def test_hang_is_reported_as_a_timeout():
    hang = "import time; print('started', flush=True); time.sleep(60)"
    outcome = run_command([sys.executable, "-c", hang], timeout=1)
    assert outcome.timed_out and outcome.returncode is None
    assert outcome.describe().startswith("timed out after")


def test_summary_is_the_last_json_line():
    code = "print('progress'); print('{\"a\": 1}'); print('{\"a\": 2}'); print('done')"
    outcome = run_command([sys.executable, "-c", code], timeout=30)
    assert outcome.returncode == 0 and outcome.summary == {"a": 2}


# A wedged example's exit 1 is faulthandler's, not the example's "race observed": it has no summary.
def test_a_faulthandler_exit_is_told_from_the_examples_own_exit_1():
    dump = "Timeout (0:01:00)!\nThread 0x1 (most recent call first):\n"
    wedged = Outcome(["python"], 1, 60.0, "", dump)
    assert wedged.wedged and not wedged.ended_itself and wedged.describe() == "stuck: stacks printed, exit 1"
    finished = Outcome(["python"], 1, 2.0, '{"example": "x"}\n', dump)
    assert not finished.wedged and finished.ended_itself


def test_side_by_side_runs_requests_at_once_and_keeps_their_order():
    """A cell's requests share the cores: SIDE_BY_SIDE of them run at once, and each outcome is its own."""
    together = threading.Barrier(SIDE_BY_SIDE, timeout=30)  # breaks unless that many run at once

    class Request:
        def __init__(self, number):
            self.number = number

        def run(self):
            together.wait()
            return self.number

    numbers = list(range(2 * SIDE_BY_SIDE))
    assert run_side_by_side([Request(number) for number in numbers]) == numbers


def test_children_write_bytecode_caches_though_the_build_machine_says_not_to(monkeypatch):
    """The build's machines set PYTHONDONTWRITEBYTECODE=1; a child runs as on a contributor's machine."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    code = "import os, sys; print(sys.dont_write_bytecode, os.environ.get('ADDED'))"
    outcome = run_command([sys.executable, "-c", code], timeout=30, env={"ADDED": "yes"})
    assert outcome.returncode == 0 and outcome.stdout.split() == ["False", "yes"]


def test_pytest_runs_at_once_share_one_whole_rewrite_cache(monkeypatch, tmp_path):
    """Side by side, pytest processes cache the same rewritten module: each renames its file into place."""
    import marshal

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    (tmp_path / "conftest.py").write_text('import pytest\npytest.register_assert_rewrite("helper")\n')
    helper = "".join(f"def check_{i}(x):\n    assert x == {i}\n" for i in range(300))  # slow to rewrite
    (tmp_path / "helper.py").write_text(helper)
    (tmp_path / "test_uses_helper.py").write_text("import helper\n\ndef test_it():\n    helper.check_7(7)\n")
    together = threading.Barrier(4, timeout=30)
    outcomes = []

    def run():
        together.wait()
        outcomes.append(run_command([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                                    timeout=120, cwd=tmp_path))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [outcome.returncode for outcome in outcomes] == [0] * 4, outcomes[0].stdout
    cached = list((tmp_path / "__pycache__").glob("helper.*"))
    # One file, pytest's, and no half-written one left under a temporary name (helper.*.pyc.<pid>).
    assert len(cached) == 1 and "-pytest-" in cached[0].name and cached[0].suffix == ".pyc", cached
    code = marshal.loads(cached[0].read_bytes()[16:])
    assert code.co_filename == str(tmp_path / "helper.py")
