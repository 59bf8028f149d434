"""ftbook.tools.benchmark: what it records of each step, and that a failed step ends the run with a record."""

import json
import subprocess
import sys

from ftbook.tools import benchmark

MARKER_THEN_WORK = ("import time; print('provisioning', flush=True); time.sleep(0.3); "
                    f"print({benchmark.PROVISIONED[0]!r} + ' all ready', flush=True); time.sleep(0.3); "
                    "print('==> chapters: 0.2 s wall, 0.3 s CPU, cores 75 % busy')")


def test_a_step_is_timed_and_split_where_the_session_says_everything_is_made(tmp_path):
    command = [sys.executable, "-c", MARKER_THEN_WORK]
    step = benchmark.run_step("docs", command, tmp_path, {}, tmp_path / "log")
    assert step["returncode"] == 0 and step["step"] == "docs"
    assert 0.3 <= step["provisioned_after_seconds"] < step["wall_seconds"]
    assert step["cpu_seconds"] >= 0 and step["busy"] >= 0
    assert "provisioning" in (tmp_path / "log").read_text()
    assert step["phases"] == {"chapters": {"wall_seconds": 0.2, "cpu_seconds": 0.3, "busy": 0.75}}


def test_what_provisioning_made_is_kept_with_its_time_in_seconds():
    log = ("==> built CPython 3.14.7 (3.14t-tsan) in 6 min 2 s: /cache/pythons/x/bin/python3\n"
           "    configure: done in 40.0 s\n"
           "nox > [3.14t-tsan] [tsan-numpy-2.5.5-patched] "
           "==> NumPy 2.5.5-patched with ThreadSanitizer ready in 56.3 s\n"
           "==> NumPy 2.2.3 with ThreadSanitizer ready in 1 min 5 s\n")
    assert benchmark.made_in(log) == {"CPython 3.14.7 (3.14t-tsan)": 362,
                                      "NumPy 2.5.5-patched with ThreadSanitizer": 56.3,
                                      "NumPy 2.2.3 with ThreadSanitizer": 65}
    assert benchmark.made_in("==> environment tsan ready in 3.0 s\n") == {}  # an environment: not a build


def test_a_step_without_the_marker_has_no_split(tmp_path):
    step = benchmark.run_step("tests", [sys.executable, "-c", "pass"], tmp_path, {}, tmp_path / "log")
    assert step["provisioned_after_seconds"] is None and step["returncode"] == 0


def a_repository(path):
    path.mkdir()
    for command in (["git", "init", "-q"], ["git", "-c", "user.email=a@b", "-c", "user.name=a", "commit",
                                              "-q", "--allow-empty", "-m", "one"]):
        subprocess.run(command, cwd=path, check=True)
    return path


def test_every_step_is_recorded_and_a_failed_one_ends_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(benchmark, "ROOT", a_repository(tmp_path / "repo"))
    monkeypatch.setattr(benchmark, "STEPS", (("docs", [sys.executable, "-c", MARKER_THEN_WORK]),
                                             ("tests", [sys.executable, "-c", "raise SystemExit(3)"]),
                                             ("never", [sys.executable, "-c", "pass"])))
    monkeypatch.setattr(benchmark.tempfile, "tempdir", str(tmp_path))
    assert benchmark.main(["--record", str(tmp_path / "records")]) == 1
    [record_file] = (tmp_path / "records").glob("*.json")
    record = json.loads(record_file.read_text())
    assert [step["step"] for step in record["steps"]] == ["docs", "tests"] and record["failed"] == "tests"
    assert record["steps"][1]["returncode"] == 3 and record_file.name.endswith(f"-{record['commit']}.json")
    assert "its log is in" in capsys.readouterr().err
    assert list(tmp_path.glob("ftbook-benchmark-*/logs/tests.log"))  # kept, to see why
