"""The subprocess runner turns crashes and hangs into results."""

import sys

from ftbook.run import run_command


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
