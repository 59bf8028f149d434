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
