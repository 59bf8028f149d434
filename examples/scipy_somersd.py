# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy", "scipy", "pytest", "pytest-run-parallel", "hypothesis"]
# ///
"""Run SciPy's own TestSomersD::test_strided on many threads, as SciPy's free-threading work did.

SciPy's developers ran their existing tests under pytest-run-parallel, and
this one aborted the interpreter (scipy/scipy#22125, numpy/numpy#28197): it
calls ``np.repeat(x, 2, axis=0)[::2]`` on arrays that ``setup_method``
builds once and every thread shares, and up to NumPy 2.2.2 np.repeat wrote
its input's dims. Each run here is one pytest process, bounded in time; the
summary counts how the runs ended: passed, the test's own error (SciPy read
a wrong length), or a signal (the interpreter died).

    python scipy_somersd.py --runs 6 --threads 40 --iterations 200 --json
    python scipy_somersd.py --runs 3 --leave-out-iterations     # one call per thread
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import numpy  # noqa: F401  (its version goes in the summary)

from thread_harness import Run, finish, parser, whole_number

SUMMARY_KEYS = ("runs", "passed", "failed", "crashed", "other", "pytest_arguments", "gil_enabled_on_import")

TEST = ("--pyargs", "scipy.stats.tests.test_hypotests", "-k", "TestSomersD and test_strided")
# pytest's own exit statuses other than 0 (passed) and 1 (a test failed): nothing was shown.
PYTEST_TROUBLE = {2: "interrupted", 3: "internal error", 4: "usage error", 5: "no tests collected"}
ERROR_LINE = re.compile(r"^E\s+(\w+(?:Error|Exception)\b.*)$", re.M)
# glibc's heap checks ("free(): invalid pointer", "malloc(): corrupted top size") come first, then CPython's.
CRASH_LINE = re.compile(r"^(?:(?:malloc|free|double free|corrupted|munmap_chunk|realloc)\S*\(?\)?:? .*"
                        r"|Fatal Python error: .*)$", re.M)


def pytest_arguments(args):
    """The command line after ``python -m pytest``, as a SciPy developer would type it."""
    given = [f"--parallel-threads={args.threads}"]
    if not args.leave_out_iterations:
        given.append(f"--iterations={args.iterations}")
    return [*TEST, *given, "-q", "-p", "no:cacheprovider"]


def one_run(arguments, seconds, folder):
    """Run pytest once; return how it ended, how long it took and the error it reported, if any."""
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", *arguments], capture_output=True, text=True,
                              timeout=seconds, cwd=folder)
    except subprocess.TimeoutExpired:
        return {"ended": "timed out", "seconds": round(time.monotonic() - started, 1), "error": None}
    took = round(time.monotonic() - started, 1)
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        said = CRASH_LINE.search(done.stderr)  # what the C library or CPython said as it died
        return {"ended": f"signal {name}", "seconds": took, "error": said.group(0).strip() if said else None}
    if done.returncode == 0:
        return {"ended": "passed", "seconds": took, "error": None}
    if done.returncode == 1:
        return {"ended": "failed", "seconds": took, "error": first_error(done.stdout + done.stderr)}
    trouble = PYTEST_TROUBLE.get(done.returncode, f"exit status {done.returncode}")
    last = (done.stdout.strip().splitlines() or [""])[-1]
    return {"ended": f"pytest: {trouble}", "seconds": took, "error": last}


def first_error(output):
    """The first exception pytest reports (its ``E   ValueError: ...`` line), else its last line of output."""
    found = ERROR_LINE.search(output)
    if found:
        return found.group(1).strip()
    return (output.strip().splitlines() or ["(no output)"])[-1].strip()


def gil_after_import():
    """Is the GIL on after importing the test module when nothing forces it off (no PYTHON_GIL)?"""
    code = "import sys, scipy.stats.tests.test_hypotests; print(sys._is_gil_enabled())"
    environment = {key: value for key, value in os.environ.items() if key != "PYTHON_GIL"}
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True,
                          timeout=120, env=environment)
    return {"True": True, "False": False}.get(done.stdout.strip())


def main(argv=None):
    made = parser(__doc__, threads=40, iterations=200, timeout=600.0,
                  meaning={"threads": "pytest-run-parallel threads (--parallel-threads)",
                           "iterations": "pytest-run-parallel iterations per thread (--iterations)"})
    made.add_argument("--runs", type=whole_number(1, 50), default=3,
                      help="pytest processes, one after another (default 3)")
    made.add_argument("--leave-out-iterations", action="store_true",
                      help="pass no --iterations: each thread calls the test once")
    args = made.parse_args(argv)
    if args.leave_out_iterations:
        args.iterations = None  # the summary says what pytest was given
    run = Run(args.timeout)
    arguments = pytest_arguments(args)
    runs = []
    with tempfile.TemporaryDirectory() as folder:  # pytest's rootdir: nothing of ours around it
        for _ in range(args.runs):
            left = run.deadline - time.monotonic()
            if left <= 0:
                run.deadline_hit = True
                break
            runs.append(one_run(arguments, left, folder))
            if runs[-1]["ended"] == "timed out":
                run.deadline_hit = True
                break
    run.seconds = time.monotonic() - run.started
    counts = {
        "passed": sum(r["ended"] == "passed" for r in runs),
        "failed": sum(r["ended"] == "failed" for r in runs),
        "crashed": sum(r["ended"].startswith("signal") for r in runs),
    }
    counts["other"] = len(runs) - sum(counts.values())
    said = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
    return finish(args, run, example="scipy_somersd", race_observed=counts["failed"] + counts["crashed"] > 0,
                  text=f"{len(runs)} runs of SciPy's TestSomersD::test_strided: {said or 'none'}",
                  runs=runs, **counts, pytest_arguments=arguments, gil_enabled_on_import=gil_after_import())


if __name__ == "__main__":
    sys.exit(main())
