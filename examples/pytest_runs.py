# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy", "pytest", "pytest-run-parallel", "hypothesis==6.122.0"]
# ///
"""Run one pytest selection again and again, each run a process of its own, and count how the runs ended.

A test that races passes in some runs, fails in others, and in some kills
the interpreter. One pytest process cannot tell you which, because a crash
ends it; this script starts a new one per run, each bounded in time, and
counts the ends: passed, failed (with the first error pytest reports), a
signal (with what the interpreter said as it died), stopped by
ThreadSanitizer (an exit status that is not pytest's, after TSAN's reports:
its ``exitcode``, 66 unless set, on ``halt_on_error=1`` or at the end),
timed out (the run outlived ``--run-timeout`` and was killed: a hang, or a
machine too slow for the limit; never counted as a pass), or something else
(pytest could not run the selection: never counted as a pass either).

Everything after ``--`` is handed to pytest; with nothing there, the test
NumPy added with its fix for numpy/numpy#28197, as the installed NumPy
ships it (``--pyargs numpy._core.tests.test_multithreading -k
test_multithreaded_repeat``). SciPy's test that found the bug, as SciPy's
free-threading work ran it:

    python pytest_runs.py --runs 6 --import-check scipy.stats.tests.test_hypotests --json -- \\
        --pyargs scipy.stats.tests.test_hypotests -k "TestSomersD and test_strided" \\
        --parallel-threads=40 --iterations=200

``--copy-test FILE`` runs a test file from a source tree (an sdist's)
against the *installed* package: the file is copied into the runs' own
folder, away from the source package it sits in, and handed to pytest.
Give it again for more files. Name tests in them by node ID after ``--``
(``test_multiarray.py::TestFlags``) to run only those; otherwise pytest gets
the whole files.

Each run keeps what pytest counted on its last line (``tally``: ``{"failed":
2, "passed": 1, "deselected": 37}``; empty when the run printed none), each
failed test with its message, from pytest's short summary (``failures``:
``{"test_file.py::test_it": "AssertionError: ..."}``), with pytest's ``-rA``
how each test ended (``tests``: ``{"test_file.py::test_it": "passed"}``), and
counts the reports ThreadSanitizer printed (``tsan_reports``),
for NumPy or an interpreter built with it; hand pytest ``-s`` so that they
reach stderr (pytest keeps a passing test's output to itself), and pass
``--keep-stderr`` to keep the text of each run's reports in the summary.

``--until-reported`` stops after the first run in which ThreadSanitizer
reported anything: with ``--runs 10``, a race that a run can miss gets up to
ten runs, and one that shows at once costs one.

``--import-check MODULE`` also reports whether importing MODULE, with
nothing forcing the GIL off (no ``PYTHON_GIL``), turned the GIL on: an
extension without ``Py_mod_gil`` would, and the runs would prove nothing.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy  # noqa: F401  (its version goes in the summary)

from thread_harness import Run, finish, parser, positive_seconds, whole_number

SUMMARY_KEYS = ("runs", "passed", "failed", "crashed", "sanitizer_stopped", "runs_timed_out", "other",
                "pytest_arguments", "gil_enabled_on_import")

DEFAULT_TEST = ["--pyargs", "numpy._core.tests.test_multithreading", "-k", "test_multithreaded_repeat"]
# pytest's own exit statuses other than 0 (passed) and 1 (a test failed): nothing was shown.
PYTEST_TROUBLE = {2: "interrupted", 3: "internal error", 4: "usage error", 5: "no tests collected"}
STOPPED_BY_TSAN = "stopped by ThreadSanitizer"
# pytest's short test summary, one line per failed test: "FAILED test_file.py::test_it - AssertionError: ...".
FAILED_LINE = re.compile(r"^FAILED (\S+)(?: - (.*))?$", re.M)
# With -rA it names every test: "PASSED test_file.py::test_it" (skips are grouped by reason, unnamed).
ENDED_LINE = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS) (\S+)", re.M)
ERROR_LINE = re.compile(r"^E\s+(\w+(?:Error|Exception)\b.*)$", re.M)
# glibc's heap checks ("free(): invalid pointer", "malloc(): corrupted top size") come first, then CPython's.
TSAN_WARNING = re.compile(r"^WARNING: ThreadSanitizer: ", re.M)
# pytest's last line, "2 failed, 1 passed, 37 deselected in 12.5s": each count by its word.
TALLY = re.compile(r"(\d+) (failed|passed|skipped|deselected|xfailed|xpassed|errors?|warnings?)\b")
KEPT_STDERR = 60_000  # characters of a run's stderr kept with --keep-stderr (see kept_stderr)
REPORT_START = "==================\nWARNING: ThreadSanitizer: "
CRASH_LINE = re.compile(r"^(?:(?:malloc|free|double free|corrupted|munmap_chunk|realloc)\S*\(?\)?:? .*"
                        r"|Fatal Python error: .*)$", re.M)


def one_run(arguments, seconds, folder, keep_stderr=False):
    """Run pytest once; return how it ended, how long it took and what it said about it.

    Every run also counts the reports ThreadSanitizer printed (none unless the
    interpreter or an extension was built with it); *keep_stderr* keeps the
    run's stderr, for a reader of the reports themselves.
    """
    started = time.monotonic()
    # pytest runs in a folder of its own; a plugin resolves a relative path against where we started.
    environment = {**os.environ, "PYTHONPATH": with_this_folder(os.environ.get("PYTHONPATH")),
                   "PYTEST_RUNS_STARTED_IN": os.getcwd(),
                   # pytest fits each short-summary line to the terminal's width, 80 without one, and
                   # drops a failure's message that does not fit after a long test name: room for it.
                   "COLUMNS": "1000"}
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", *arguments], capture_output=True, text=True,
                              timeout=seconds, cwd=folder, env=environment)
    except subprocess.TimeoutExpired as killed:
        said = killed.stderr.decode(errors="replace") if isinstance(killed.stderr, bytes) else killed.stderr
        return {"ended": "timed out", "seconds": round(time.monotonic() - started, 1),
                "error": f"killed after {seconds:g} s", "tally": {}, "failures": {}, "tests": {},
                **sanitizer(said or "", keep_stderr)}
    took = round(time.monotonic() - started, 1)
    reports = sanitizer(done.stderr, keep_stderr)
    lines = done.stdout.strip().splitlines()
    # What pytest counted, from its last line ({} when it printed none: a crash, or stopped by TSAN).
    tally = {word.rstrip("s") if word.startswith(("error", "warning")) else word: int(n)
             for n, word in TALLY.findall(lines[-1] if lines else "")}
    if done.returncode < 0:
        said = CRASH_LINE.search(done.stderr)  # what the C library or CPython said as it died
        ended = f"signal {signal.Signals(-done.returncode).name}"
        error = said.group(0).strip() if said else None
    elif done.returncode == 0:
        ended, error = "passed", None
    elif reports["tsan_reports"] and done.returncode not in (1, *PYTEST_TROUBLE):
        ended, error = f"{STOPPED_BY_TSAN} (exit {done.returncode})", None  # its status replaced pytest's
    else:
        trouble = PYTEST_TROUBLE.get(done.returncode, f"exit status {done.returncode}")
        ended = "failed" if done.returncode == 1 else f"pytest: {trouble}"
        error = first_error(done.stdout + done.stderr)
    failures = {test: message or "" for test, message in FAILED_LINE.findall(done.stdout)}
    tests = {test: word.lower() for word, test in ENDED_LINE.findall(done.stdout)}
    return {"ended": ended, "seconds": took, "error": error, "tally": tally, "failures": failures,
            "tests": tests, **reports}


def sanitizer(stderr, keep_stderr):
    """What a run's stderr says about ThreadSanitizer: its report count, and the text if asked to keep it."""
    kept = {"stderr": kept_stderr(stderr)} if keep_stderr else {}
    return {"tsan_reports": len(TSAN_WARNING.findall(stderr)), **kept}


def kept_stderr(stderr):
    """*stderr*, or, past KEPT_STDERR characters, its first reports and its end, whole reports only.

    The first reports name the race a run met first; after a race that
    corrupts memory, dozens more can follow, its aftermath (with only the
    last ones kept, a run under load once kept no report of the race it was
    about). The end says how the run ended.
    """
    if len(stderr) <= KEPT_STDERR:
        return stderr
    head, tail = stderr[:KEPT_STDERR * 2 // 3], stderr[-(KEPT_STDERR // 3):]
    head = head[:head.rfind(REPORT_START)] if head.count(REPORT_START) > 1 else head  # drop a cut report
    tail = tail[tail.find(REPORT_START):] if REPORT_START in tail else tail
    left_out = len(stderr) - len(head) - len(tail)
    return f"{head}\n[... {left_out} characters of ThreadSanitizer's output left out ...]\n{tail}"


def first_error(output):
    """The first exception pytest reports (its ``E   ValueError: ...`` line), else its last line of output."""
    found = ERROR_LINE.search(output)
    if found:
        return found.group(1).strip()
    return (output.strip().splitlines() or ["(no output)"])[-1].strip()


def with_this_folder(path):
    """*path* (a PYTHONPATH) with this script's folder first: pytest can then load a plugin kept here
    (-p numpy_run_threaded), and a child can import the harness."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.pathsep.join(filter(None, [here, path]))


def gil_after_import(module, seconds):
    """Is the GIL on after importing *module* when nothing forces it off (no PYTHON_GIL)?

    None: the import failed or took longer than *seconds*.
    """
    code = f"import {module}, thread_harness; print(thread_harness.gil_enabled())"
    environment = {key: value for key, value in os.environ.items() if key != "PYTHON_GIL"}
    environment["PYTHONPATH"] = with_this_folder(environment.get("PYTHONPATH"))
    try:
        done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True,
                              timeout=seconds, env=environment)
    except subprocess.TimeoutExpired:
        return None
    return {"True": True, "False": False}.get(done.stdout.strip())


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    ours, pytest_arguments = argv[:split], argv[split + 1:]
    made = parser(__doc__, threads=None, iterations=None, timeout=600.0)
    made.add_argument("--runs", type=whole_number(1, 50), default=3,
                      help="pytest processes, one after another (default 3)")
    made.add_argument("--run-timeout", type=positive_seconds, default=120.0,
                      help="kill a run after this many seconds and count it as timed out (default 120)")
    made.add_argument("--import-check", metavar="MODULE",
                      help="report whether importing MODULE turns the GIL on")
    made.add_argument("--copy-test", metavar="FILE", action="append", default=[],
                      help="copy this test file into the runs' folder; run it against the installed package "
                           "(again for more files)")
    made.add_argument("--keep-stderr", action="store_true",
                      help="keep each run's stderr (the end of it) in the summary, e.g. for its TSAN reports")
    made.add_argument("--until-reported", action="store_true",
                      help="stop after the first run in which ThreadSanitizer reported anything")
    args = made.parse_args(ours)
    for test_file in args.copy_test:
        if not os.path.isfile(test_file):
            made.error(f"--copy-test: no such file: {test_file}")
    pytest_arguments = pytest_arguments or ([] if args.copy_test else DEFAULT_TEST)
    copied = [os.path.basename(test_file) for test_file in args.copy_test]
    if not any(argument.split("::")[0] in copied for argument in pytest_arguments):
        pytest_arguments = [*copied, *pytest_arguments]  # no test named by node ID: the whole files
    arguments = [*pytest_arguments, "-q", "--color=no", "-p", "no:cacheprovider"]
    run = Run(args.timeout)
    gil_on_import = None
    if args.import_check:  # checked first, so the runs cannot use up its time
        gil_on_import = gil_after_import(args.import_check, min(60.0, args.timeout))
    runs = []
    with tempfile.TemporaryDirectory() as folder:  # pytest's rootdir: no conftest or ini of ours around it
        for test_file in args.copy_test:
            shutil.copy(test_file, folder)
        for _ in range(args.runs):
            left = run.deadline - time.monotonic()
            if left <= 0:
                run.deadline_hit = True
                break
            # A run that hangs (a dying interpreter can) costs --run-timeout, not the rest of the budget.
            runs.append(one_run(arguments, min(left, args.run_timeout), folder, args.keep_stderr))
            if runs[-1]["ended"] == "timed out":
                run.deadline_hit = True  # the summary's timed_out, exit status 3 (unless a race showed)
            if args.until_reported and runs[-1]["tsan_reports"]:
                break
    run.seconds = time.monotonic() - run.started
    counts = {
        "passed": sum(r["ended"] == "passed" for r in runs),
        "failed": sum(r["ended"] == "failed" for r in runs),
        "crashed": sum(r["ended"].startswith("signal") for r in runs),
        "sanitizer_stopped": sum(r["ended"].startswith(STOPPED_BY_TSAN) for r in runs),
        "runs_timed_out": sum(r["ended"] == "timed out" for r in runs),
    }
    counts["other"] = len(runs) - sum(counts.values())
    said = ", ".join(f"{n} {what.removeprefix('runs_').replace('_', ' ')}" for what, n in counts.items() if n)
    observed = counts["failed"] + counts["crashed"] + counts["sanitizer_stopped"] > 0
    return finish(args, run, example="pytest_runs", race_observed=observed,
                  text=f"{len(runs)} pytest runs of {' '.join(pytest_arguments)}: {said or 'none'}",
                  runs=runs, **counts, pytest_arguments=arguments,
                  gil_enabled_on_import=gil_on_import)


if __name__ == "__main__":
    sys.exit(main())
