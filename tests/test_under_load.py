"""ftbook.tools.under_load: the busy cores it measures under, the claims it finds, the records it writes."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ftbook.tools import under_load
from ftbook.tsan import UntilRace


def test_busy_cores_spin_while_the_block_runs_and_are_gone_after():
    with under_load.busy_cores(2) as busy:
        assert len(busy) == 2
        assert all(process.poll() is None for process in busy)  # still spinning
    assert all(process.returncode is not None for process in busy)  # killed and reaped


def test_busy_cores_are_killed_when_the_block_fails():
    with pytest.raises(RuntimeError), under_load.busy_cores(1) as busy:
        raise RuntimeError("a claim failed under load")
    assert busy[0].returncode is not None


def test_busy_cores_end_when_their_starter_is_killed_outright():
    """A SIGKILL runs no cleanup: the busy processes notice their parent is gone and stop by themselves."""
    starter = subprocess.run(
        [sys.executable, "-c", "import os, signal\nfrom ftbook.tools.under_load import busy_cores\n"
         "with busy_cores(1) as busy:\n    print(busy[0].pid, flush=True)\n"
         "    os.kill(os.getpid(), signal.SIGKILL)\n"],
        capture_output=True, text=True, timeout=60)
    orphan = int(starter.stdout)
    deadline = time.monotonic() + 10
    while alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(orphan), f"busy process {orphan} outlived the process that started it"


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state  # a zombie has ended; only its exit status waits to be collected


def test_every_timing_dependent_claim_is_found_once():
    """The measurements and the loaded tests both come from the claim modules' TEST_RUNS (UntilRace)."""
    found = under_load.timing_evidence()
    names = [name for name, _ in found]
    assert len(names) == len(set(names))
    assert all(isinstance(race, UntilRace) and race.function for _, race in found)
    assert "finding_races_numpy_under_tsan.numpy_suppressions_hide_the_nonzero_data_race" in names
    assert "locking.different_locks_race" in names


def test_records_written_at_once_by_two_threads_are_each_whole(tmp_path):
    """Two writers of one record's name: each writes its own temporary file, and the rename is atomic."""
    records = [{"date": "2026-12-05T00:00:00+00:00", "commit": "abc1234", "claims": [], "writer": n,
                "padding": "x" * 200_000} for n in range(2)]
    barrier = threading.Barrier(2)

    def write(record):
        barrier.wait()
        for _ in range(20):
            under_load.write_record(record, tmp_path)

    threads = [threading.Thread(target=write, args=(record,)) for record in records]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [path] = tmp_path.iterdir()  # no temporary file left behind
    assert path.name == "2026-12-05T00-00-00-abc1234.json"
    assert json.loads(path.read_text())["writer"] in (0, 1)


def test_bad_arguments_get_one_line_and_a_non_zero_exit(capsys):
    with pytest.raises(SystemExit) as stopped:
        under_load.main(["--runs", "0"])
    assert stopped.value.code == 2
    assert "--runs must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        under_load.main(["--only", "no claim is called this"])
    assert "no timing-dependent claim matches" in capsys.readouterr().err
