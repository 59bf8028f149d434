"""What docs/chapters/finding-races/fixing-todays-races.md asserts.

The book's patches to today's release (``patches/numpy-2.5.5``) each add a
regression test to NumPy's ``test_multithreading.py``. Each test runs
(``examples/pytest_runs.py``, one pytest process per run) from the patched
sources, on 2.5.5 as released and on 2.5.5 with the patches, both built here
with ThreadSanitizer, with the ``TSAN_OPTIONS`` of NumPy's own job at 2.5.5
(its suppressions file included): what NumPy's TSAN CI would see. The
chapter runs these requests.
"""

from __future__ import annotations

from ftbook.build import CELL_TIMEOUT
from ftbook.provision.instrumented import patched_source_dir, patches_of
from ftbook.provision.sources import CURRENT_NUMPY
from ftbook.recipes import TODAYS_JOB, TODAYS_OPTIONS
from ftbook.run import SIDE_BY_SIDE, ExampleRun, Outcome
from ftbook.tsan import parse_reports, tsan_request
from ftbook.upstream import read_patch, reported_race

TODAY = "2.5.5"
assert TODAYS_JOB == TODAY, f"NumPy's job options (ftbook.recipes) are for {TODAYS_JOB}, not {TODAY}"
PATCHED = f"{TODAY}-patched"
TEST_FILE = "numpy/_core/tests/test_multithreading.py"
FAILS = "its own assertion"
# How each new test shows its bug on the release: it fails by its own assertion (the bug is there
# whatever the timing), or ThreadSanitizer reports a race with this function in a stack (when the
# two threads' accesses overlap, which a run can miss).
SHOWS = {
    "test_sort_order_leaves_the_dtype_alone": "array_argsort",
    "test_partition_order_with_a_bad_kth_leaves_the_dtype_alone": FAILS,
    "test_refused_setflags_keeps_a_change_made_meanwhile": FAILS,
    "test_scalar_without_data_leaves_the_shared_dtype_unsized": FAILS,
    "test_ufunc_at_only_reads_the_values_flags": "PyArray_BroadcastToShape",
    "test_setflags_and_flags_readers_share_the_word_atomically": "array_setflags",
}
# What one request runs: the tests that fail by their own assertion together (pytest counts each),
# each race alone (its runs stop at its first report on the release).
GROUPS = (tuple(test for test, shows in SHOWS.items() if shows == FAILS),
          *((test,) for test, shows in SHOWS.items() if shows != FAILS))
# A race gets up to RACE_RUNS runs on the release, stopping at the first report (each of 3 runs
# reported, by hand, 2026-12-06); on the patched build it gets PATCHED_RUNS runs, and none may report.
# The chapter is the longest of the first build and on its critical path (the patched build, then this
# chapter, then the chapters that run alone): one patched run, as many as each race needed on the
# release in every build so far. A race's cell took about 40 s on an idle machine while every pytest
# start re-rewrote hypothesis's asserts, and about 16 s since the runs keep pytest's cache
# (ftbook.run.NOT_PASSED_ON; 2026-12-07). A run took 43 s beside one other chapter, and over 60 s with
# two builds' chapters on the cores (2026-12-06, before that change). So each request has its cell's
# whole time: its runs share it, each killed after RUN_SECONDS (a request of one run, ALONE_SECONDS).
RACE_RUNS, PATCHED_RUNS = 3, 1
CELL_SECONDS = CELL_TIMEOUT - 30
RUN_SECONDS, ALONE_SECONDS = (CELL_SECONDS - 30) // RACE_RUNS, CELL_SECONDS - 30


# The tests each patch adds (its "+def test_..." lines), by patch file name, in order.
ADDED_TESTS = {patch.name: list(read_patch(patch).tests) for patch in patches_of(PATCHED)}
# test_multithreading.py with every patch's tests: in the patched sources the build makes.
PATCHED_TEST_FILE = patched_source_dir(PATCHED) / TEST_FILE


def _racy(tests: tuple[str, ...]) -> bool:
    """Do *tests* guard a race (shown by a TSAN report), rather than fail by their own assertion?"""
    return any(SHOWS[test] != FAILS for test in tests)


def _runs_of(tests: tuple[str, ...], race_runs: int) -> int:
    """How many runs a request of *tests* gets: *race_runs* for a race, one for tests that fail anyway."""
    return race_runs if _racy(tests) else 1


def regression_run(tests: tuple[str, ...], env: str, race_runs: int = RACE_RUNS) -> ExampleRun:
    """*tests* from the patched test file, in book environment *env* (NumPy built with ThreadSanitizer).

    A race's runs on the release stop at its first report; every other request runs all its runs.
    """
    runs = _runs_of(tests, race_runs)
    until = ("--until-reported",) if _racy(tests) and not env.endswith(PATCHED) else ()
    seconds = ALONE_SECONDS if runs == 1 else RUN_SECONDS
    budget = runs * seconds + 10
    return tsan_request("pytest_runs.py", "--runs", str(runs), *until, "--run-timeout", str(seconds),
                        "--timeout", str(budget), "--keep-stderr", "--copy-test", str(PATCHED_TEST_FILE),
                        "--json", "--", "-s", "-k", " or ".join(tests), options=TODAYS_OPTIONS, env=env,
                        timeout=budget + 20)


# (tests, release): on the release as published, and with the patches.
RUNS = {**{(tests, TODAY): regression_run(tests, env="tsan-numpy-2.5.5") for tests in GROUPS},
        **{(tests, PATCHED): regression_run(tests, env="tsan-numpy-2.5.5-patched", race_runs=PATCHED_RUNS)
           for tests in GROUPS}}
ENVS = {release: RUNS[GROUPS[0], release].env for release in (TODAY, PATCHED)}
assert {release: f"tsan-numpy-{release}" for release in ENVS} == ENVS, ENVS
# The runs in the order the chapter's cells make them. A cell's requests run side by side
# (ftbook.run.run_side_by_side), so a cell ends inside its longest request's limit. Only the tests that
# fail by their own assertion share a cell: they fail whatever the timing, and each runs in one thread.
# A race's test runs eight threads, which take both cores (paired on the patched build, two such
# requests took 199 s, where one alone takes about 90 s), and on the release a busy core keeps
# ThreadSanitizer from seeing the two accesses meet.
CELLS = ([(GROUPS[0], TODAY), (GROUPS[0], PATCHED)],
         *([(tests, release)] for release in (TODAY, PATCHED) for tests in GROUPS[1:]))
assert all(len(cell) <= SIDE_BY_SIDE and max(RUNS[key].timeout for key in cell) <= CELL_SECONDS
           for cell in CELLS), "a cell over its limit"
assert sorted(key for cell in CELLS for key in cell) == sorted(RUNS)


# The windows the family pages force, with the same examples, on both builds: sort(order=)'s swapped
# names seen from an object field's __lt__ (family/restore), and a refused setflags undoing another
# thread's change from its argument's __bool__ (family/flags). Each is deterministic: no tries.
WINDOWS = {
    "sort_order_window.py": ("--sorter", "order", "--mode", "forced", "--json"),
    "setflags_restore.py": ("--flag", "true", "--json"),
}
WINDOW_RUNS = {(example, release): tsan_request(example, *args, env=ENVS[release], timeout=120)
               for example, args in WINDOWS.items() for release in ENVS}
# Run side by side, in one cell: two rounds of two.
assert len(WINDOW_RUNS) <= 2 * SIDE_BY_SIDE, len(WINDOW_RUNS)
assert 2 * max(run.timeout for run in WINDOW_RUNS.values()) <= CELL_SECONDS, "the windows' cell, too long"


# NumPy's own tests of what each patch touches, by node ID in the sdist's test files (the patches change
# none of them; only test_multithreading.py). The ufunc.at tests are methods of the large TestUfunc
# class, so its run keeps only theirs with -k. All of them run in one thread, so ThreadSanitizer has
# nothing to report in them on either build. Measured here, 2026-12-06: 314 passed and 1 skipped on
# each build.
NUMPY_TESTS = {
    "0001-sort-order-works-on-a-view.patch": (
        "test_multiarray.py::TestMethods::test_sort_order",
        "test_multiarray.py::TestMethods::test_sort_bad_ordering",
        "test_multiarray.py::TestMethods::test_partition_cdtype",
        "test_multiarray.py::TestRecord::test_unicode_order"),
    "0002-setflags-stores-once.patch": ("test_multiarray.py::TestFlags",),
    "0003-scalar-sizes-a-copy.patch": (
        "test_dtype.py::TestDTypeClasses::test_scalar_helper_all_dtypes",
        "test_records.py::TestRecord::test_pickle_void",
        "test_regression.py::TestRegression::test_pickle_py2_scalar_latin1_hack",
        "test_multiarray.py::TestPickling"),
    "0004-broadcast-to-shape-reads-flags.patch": ("test_ufunc.py::TestUfunc",),
    # setflags() again, and the flags getter, whose tests are the same class.
    "0005-setflags-and-flags-getter-use-atomics.patch": ("test_multiarray.py::TestFlags",),
}
ONLY_UFUNC_AT = "not TestUfunc or ufunc_at or test_at_"
# Two pytest runs per build, each well inside a cell's limit: test_multiarray.py is most of the first
# (collecting it takes about 45 s under ThreadSanitizer), test_dtype.py's Hypothesis and test_ufunc.py
# the second. Measured in one run per build instead: 137 s each, idle (2026-12-06). A part's runs on
# the two builds go side by side, in one cell: the tests run in one thread, so timing changes nothing.
NUMPY_TEST_FILES = (("test_multiarray.py", "test_records.py", "test_regression.py"),
                    ("test_dtype.py", "test_ufunc.py"))
NUMPY_TESTS_SECONDS = 200


def numpy_tests_run(files: tuple[str, ...], env: str) -> ExampleRun:
    """NumPy's tests in NUMPY_TESTS from *files*: one pytest run on book environment *env*, with NumPy's
    ``TSAN_OPTIONS``."""
    copies = [option for name in files for option in ("--copy-test", str(PATCHED_TEST_FILE.parent / name))]
    nodes = [node for nodes in NUMPY_TESTS.values() for node in nodes if node.split("::")[0] in files]
    only = ("-k", ONLY_UFUNC_AT) if any(node.startswith("test_ufunc.py::TestUfunc") for node in nodes) else ()
    seconds = NUMPY_TESTS_SECONDS
    return tsan_request("pytest_runs.py", "--runs", "1", "--run-timeout", str(seconds), "--timeout",
                        str(seconds + 10), *copies, "--json", "--", "-rA", *nodes, *only,
                        options=TODAYS_OPTIONS, env=env, timeout=seconds + 30)


# (files, release): each part of NumPy's tests, on the release and on the patched build.
NUMPY_TEST_RUNS = {(files, release): numpy_tests_run(files, env)
                   for files in NUMPY_TEST_FILES for release, env in ENVS.items()}
assert all(run.timeout <= CELL_SECONDS for run in NUMPY_TEST_RUNS.values()), "a part's cell, too long"
assert ({node.split("::")[0] for nodes in NUMPY_TESTS.values() for node in nodes}
        == {name for files in NUMPY_TEST_FILES for name in files}), "each test file, in one part"


def _by_patch(*outcomes: Outcome) -> dict[str, dict[str, str]]:
    """How each of NumPy's tests ended in NUMPY_TEST_RUNS requests (one build's), by the patch they test."""
    ended = {test: end for outcome in outcomes for run in outcome.check()["runs"]
             for test, end in run["tests"].items()}
    return {patch: {test: end for test, end in ended.items()
                    if any(test == node or test.startswith((f"{node}::", f"{node}[")) for node in nodes)}
            for patch, nodes in NUMPY_TESTS.items()}


def each_patch_adds_a_regression_test_the_build_runs() -> None:
    """The evidence is complete: every patch adds at least one test, and the build runs each test it adds."""
    assert ADDED_TESTS and all(ADDED_TESTS.values()), ADDED_TESTS
    assert sorted(test for tests in ADDED_TESTS.values() for test in tests) == sorted(SHOWS), ADDED_TESTS


def regression_tests_show_the_bugs_on_the_release(*outcomes: Outcome) -> None:
    """Bug (each patch's): on 2.5.5 as released, each new test fails, or TSAN reports the race it guards.

    *outcomes*: RUNS' requests on the release, one per group. The tests
    that fail by their own assertion all fail in their run (pytest counts
    each parametrisation); a race stops a run with TSAN's exit status after
    a report with the racing function in a stack, in one of up to RACE_RUNS
    runs. The race can corrupt memory (``sort(order=)`` frees the
    descriptor another thread is reading), so a reported run may go on to
    crash or hang and be killed: TSAN printed its reports first.
    """
    assert sorted(map(_tests_of, outcomes)) == sorted(GROUPS), [_tests_of(outcome) for outcome in outcomes]
    for outcome in outcomes:
        tests = _tests_of(outcome)
        summary = _ran(outcome, ENVS[TODAY], may_corrupt=_racy(tests))
        if not _racy(tests):
            (run,) = summary["runs"]
            assert run["ended"] == "failed" and run["tally"].get("passed", 0) == 0, (tests, run["tally"])
            assert run["tally"]["failed"] >= len(tests), (tests, run["tally"])
            continue
        ended = [run["ended"] for run in summary["runs"]]
        assert reported_race(summary, SHOWS[tests[0]]) is not None, (tests, ended)  # the one the texts quote


def regression_tests_pass_clean_on_the_patched_build(*outcomes: Outcome) -> None:
    """The fixes: on 2.5.5 with the patches, each new test passes in every run, and TSAN reports nothing."""
    assert sorted(map(_tests_of, outcomes)) == sorted(GROUPS), [_tests_of(outcome) for outcome in outcomes]
    for outcome in outcomes:
        tests, summary = _tests_of(outcome), _ran(outcome, ENVS[PATCHED])
        runs = _runs_of(tests, PATCHED_RUNS)
        assert len(summary["runs"]) == runs, (tests, len(summary["runs"]))  # the number the chapter states
        for run in summary["runs"]:
            assert run["ended"] == "passed" and run["tsan_reports"] == 0, (tests, run["ended"])
            assert run["tally"].get("failed", 0) == 0 and run["tally"]["passed"] >= len(tests), run["tally"]
        assert outcome.returncode == 0, outcome.describe()


def forced_windows_open_on_the_release_and_closed_on_the_patched_build(*outcomes: Outcome) -> None:
    """The fixes, in the family pages' own forced interleavings: what they show on 2.5.5, the patches end.

    *outcomes*: WINDOW_RUNS, in any order. On the release, the hook inside
    ``argsort(order=)`` and another thread see the swapped names, and the
    refused ``setflags`` leaves the array writeable again; on the patched
    build both see the caller's names and the other thread's
    ``writeable = False`` stays, and ThreadSanitizer reports nothing.
    """
    ran = {(outcome.request.example, _release_of(outcome)): outcome for outcome in outcomes}
    assert sorted(ran) == sorted(WINDOW_RUNS), sorted(ran)
    for (example, release), outcome in ran.items():
        summary = outcome.check()
        assert summary["numpy"] == TODAY and not summary["timed_out"], summary
        fixed = release == PATCHED
        if example == "sort_order_window.py":
            assert summary["final_names"] == ["x", "y"], summary
            seen = ["x", "y"] if fixed else ["y", "x"]
            assert summary["hook_saw"] == seen and summary["reader_saw"] == seen, (release, summary)
        else:
            assert summary["writeable_after_protect"] is False, summary  # the other thread's write took
            assert "WRITEBACKIFCOPY" in summary["error"], summary  # and the call was refused
            assert summary["writeable_final"] is not fixed, (release, summary)  # the change undone, or kept
        assert summary["race_observed"] is not fixed, (release, summary)
        if fixed:
            assert outcome.returncode == 0 and not parse_reports(outcome.stderr), outcome.describe()


def numpy_own_tests_pass_the_same_on_both_builds(*outcomes: Outcome) -> dict[str, dict[str, dict[str, str]]]:
    """No regression: NumPy's own tests of what each patch touches pass on both builds, the same on each.

    *outcomes*: NUMPY_TEST_RUNS, in any order. Each patch's selection ran
    at least one test; on each build every test that ran passed (one is
    skipped by its own condition, as pytest's tally shows), the two builds
    ran the same tests, and ThreadSanitizer reported nothing (the tests run
    in one thread). Returns, by build, how each test ended, by the patch
    whose selection holds it: what the page shows.
    """
    ended, shown = {}, {}
    for release, env in ENVS.items():
        mine = [outcome for outcome in outcomes if outcome.request.env == env]
        assert len(mine) == len(NUMPY_TEST_FILES), (env, len(mine))
        tests = {}
        for outcome in mine:
            (run,) = _ran(outcome, env)["runs"]
            assert run["ended"] == "passed" and run["tsan_reports"] == 0, (env, run["ended"], run["error"])
            assert run["tally"].get("failed", 0) == run["tally"].get("error", 0) == 0, run["tally"]
            assert len(run["tests"]) == run["tally"]["passed"], run["tally"]  # -rA named every test that ran
            tests |= run["tests"]
        by_patch = _by_patch(*mine)
        assert all(by_patch.values()), {patch: len(tests) for patch, tests in by_patch.items()}
        assert set().union(*by_patch.values()) == set(tests), "a test that ran is in no patch's selection"
        assert {end for tests in by_patch.values() for end in tests.values()} == {"passed"}, by_patch
        ended[release], shown[release] = tests, by_patch
    assert ended[TODAY] == ended[PATCHED], set(ended[TODAY]) ^ set(ended[PATCHED])
    return shown


def _release_of(outcome: Outcome) -> str:
    """Which of ENVS a request ran on."""
    (release,) = (release for release, env in ENVS.items() if env == outcome.request.env)
    return release


def _tests_of(outcome: Outcome) -> tuple[str, ...]:
    """The tests a request ran: its ``-k``."""
    args = outcome.request.args
    return tuple(args[args.index("-k") + 1].split(" or "))


def _ran(outcome: Outcome, env: str, *, may_corrupt: bool = False) -> dict:
    """The summary of a request on *env*, today's NumPy; unless *may_corrupt*, no run had to be killed."""
    assert TODAY == CURRENT_NUMPY, f"the book's NumPy is {CURRENT_NUMPY}: patch and build it (envs.py)"
    assert outcome.request.env == env, (outcome.request.env, env)
    summary = outcome.check()
    assert summary["numpy"] == TODAY and summary["runs"], summary
    assert summary["other"] == 0, summary["runs"]  # pytest ran the selection
    assert may_corrupt or summary["runs_timed_out"] == 0, [run["ended"] for run in summary["runs"]]
    return summary


TEST_RUNS = [
    (numpy_own_tests_pass_the_same_on_both_builds, list(NUMPY_TEST_RUNS.values())),
    (forced_windows_open_on_the_release_and_closed_on_the_patched_build, list(WINDOW_RUNS.values())),
    (each_patch_adds_a_regression_test_the_build_runs, []),
    (regression_tests_show_the_bugs_on_the_release, [RUNS[tests, TODAY] for tests in GROUPS]),
    # One run per race on the patched build, not RACE_RUNS: the same shape, in a third of the time.
    (regression_tests_pass_clean_on_the_patched_build,
     [regression_run(tests, env="tsan-numpy-2.5.5-patched", race_runs=1) for tests in GROUPS]),
]
