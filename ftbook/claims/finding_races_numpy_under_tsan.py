"""What docs/chapters/finding-races/numpy-under-tsan.md asserts.

Every run replays one case of ``examples/numpy_races.py`` on a NumPy release
built here with ThreadSanitizer (``ftbook.provision.instrumented``), with
every report counted (``halt_on_error=0``). The chapter runs these requests.
"""

from __future__ import annotations

from collections.abc import Callable

from ftbook.provision.sources import CURRENT_NUMPY, sdist_dir
from ftbook.quote import c_function, source_file, source_lines
from ftbook.run import Outcome
from ftbook.tsan import TSAN_EXIT, Report, UntilRace, numpy_that_ran, parse_reports, tsan_request

EXIT_RACE = 1  # examples/thread_harness.py: the example saw the race itself
_ALL_REPORTS = {"halt_on_error": "0"}
# The function whose race each case is about.
RACING = {"flat-flags": "PyArray_RawIterBaseInit", "flat-byteorder": "PyArray_CheckFromAny_int",
          "ufunc-at-flags": "PyArray_BroadcastToShape", "writeable": "array_setflags",
          "sort-order": "array_argsort"}
# y.flat[x] = x on 2.2.1 also reports, in some runs, a flags write beneath PyArray_CheckFromAny_int (the
# first case's race); the byte-order race is the one whose write is that function's own (CI's build of
# 011bab8 read the flags race as the byte-order one and failed).
BYTEORDER_WRITER = "PyArray_CheckFromAny_int"
# Four threads, 5000 calls each. Much of a run is the instrumented NumPy's import (about 2.6 s once the
# interpreter's standard library is byte-compiled, 7 s before); the calls
# are cheap, and each one is a chance for the two accesses to overlap. 500 calls were enough on an idle
# machine, not on a busy one: with two busy loops taking both cores, argsort(order=)'s race went
# unreported in 4 runs of 4, and CI's build missed it in 3 attempts; 5000 calls reported it in 10 runs of
# 10 there (2026-12-02). A deadline of 30 s is not reached by a run that goes well.
STRESS_THREADS, STRESS_CALLS = 4, 5000
_STRESS = ("--threads", str(STRESS_THREADS), "--iterations", str(STRESS_CALLS), "--timeout", "30", "--json")


def _replay(case: str, env: str, options: dict | None = None, stress: tuple[str, ...] = _STRESS):
    options = {**_ALL_REPORTS, **(options or {})}
    return tsan_request("numpy_races.py", "--case", case, *stress, options=options, env=env)


FLAT_FLAGS = {"2.2.1": _replay("flat-flags", env="tsan-numpy-2.2.1"),
              "2.2.2": _replay("flat-flags", env="tsan-numpy-2.2.2")}
FLAT_BYTEORDER = {"2.2.1": _replay("flat-byteorder", env="tsan-numpy-2.2.1"),
                  "2.2.2": _replay("flat-byteorder", env="tsan-numpy-2.2.2")}
TODAY = "2.5.5"  # the release built for today's races; must be the book's NumPy (checked by each claim)
UFUNC_AT_FLAGS = _replay("ufunc-at-flags", env="tsan-numpy-2.5.5")
WRITEABLE = _replay("writeable", env="tsan-numpy-2.5.5")
SORT_ORDER = _replay("sort-order", env="tsan-numpy-2.5.5")
DTYPE_GETTER = "array_descr_get"  # a.dtype, in getset.c
# NumPy's own suppressions, read from the sdist of the release that runs. A suppression matches the
# stacks of a report, so both must be restored (ftbook.tsan.HISTORY_SIZE). Short runs, and
# history_size=7, kept both stacks in the runs measured here:
# two threads of 1000 calls, reported without the file and silent with it in 4 runs of 4 with both cores
# busy (100 calls went unreported in 2 runs of 3 there).
SUPPRESSIONS = "tools/ci/tsan_suppressions.txt"
SHORT_THREADS, SHORT_CALLS = 2, 1000
_SHORT = ("--threads", str(SHORT_THREADS), "--iterations", str(SHORT_CALLS), "--timeout", "30", "--json")
NONZERO = _replay("nonzero", env="tsan-numpy-2.5.5", stress=_SHORT)
NONZERO_FUNCTION = "count_nonzero_int"  # the report without the file must name it
_NUMPYS_SUPPRESSIONS = {"suppressions": str(sdist_dir(TODAY) / SUPPRESSIONS), "print_suppressions": "1"}
NONZERO_SUPPRESSED = _replay("nonzero", env="tsan-numpy-2.5.5", stress=_SHORT,
                             options=_NUMPYS_SUPPRESSIONS)


def flat_iterator_writes_the_shared_flags_on_2_2_1(*attempts: Outcome) -> None:
    """Race: on 2.2.1, making ``x.flat`` updates the shared array's flags (#28042), racing other threads'."""
    _race(attempts, "2.2.1", "PyArray_RawIterBaseInit", where=lambda r: _writes_in(r, "PyArray_UpdateFlags"))


def flat_iterator_is_silent_on_2_2_2(outcome: Outcome) -> None:
    """The fix: 2.2.2 deleted the update (#28144); the same runs report nothing at all."""
    _ran(outcome, "2.2.2")
    assert parse_reports(outcome.stderr) == [] and outcome.returncode == 0, outcome.stderr[-3000:]


def flat_assignment_writes_the_intp_byte_order_on_2_2_1(*attempts: Outcome) -> Report:
    """Race: on 2.2.1, ``y.flat[x] = x`` writes the byte order of the process-wide intp descriptor (#28143).

    The write is ``PyArray_CheckFromAny_int``'s, at the line of 2.2.1's
    ``ctors.c`` that stores ``NPY_NATIVE`` into ``byteorder``; another
    thread's type promotion reads the same byte. Returns that report (the
    page quotes it).
    """
    report = _race(attempts, "2.2.1", RACING["flat-byteorder"], written_by=BYTEORDER_WRITER)
    path, line = report.write_by(BYTEORDER_WRITER).own_top.location.split(":")
    written = source_lines("2.2.1", f"numpy/_core/src/multiarray/{path}")
    assert "byteorder = NPY_NATIVE" in written[int(line) - 1], written[int(line) - 1]
    return report


def flat_assignment_is_silent_on_2_2_2(outcome: Outcome) -> None:
    """The fix: 2.2.2 writes no shared descriptor (#28160) and updates no flags here: nothing reported."""
    _ran(outcome, "2.2.2")
    assert parse_reports(outcome.stderr) == [] and outcome.returncode == 0, outcome.stderr[-3000:]


def ufunc_at_writes_the_shared_values_flags_today(*attempts: Outcome) -> None:
    """Race: today, ``np.add.at(own, index, values)`` updates the flags of a shared ``values`` (#30540)."""
    _race(attempts, TODAY, "PyArray_BroadcastToShape", where=lambda r: _writes_in(r, "PyArray_UpdateFlags"))


def writeable_setter_races_the_flags_getter_today(*attempts: Outcome) -> None:
    """Race: today, ``a.flags.writeable = False`` writes the flags word that ``a.flags`` reads (#30540)."""
    _race(attempts, TODAY, "array_setflags",
          where=lambda r: _writes_in(r, "array_setflags") and "array_flags_get" in r.functions())


def argsort_order_swaps_the_shared_dtype_today(*attempts: Outcome) -> None:
    """Race: today, ``a.argsort(order=...)`` writes ``a``'s dtype pointer, which ``a.dtype`` reads.

    The race can corrupt memory, so a run may not finish after it is
    reported: ``array_descr_get`` reads the pointer twice (to take a
    reference, then to return it), and ``array_argsort`` frees the copy it
    swapped in, so a reader can return a dtype it holds no reference to.
    """
    getter = c_function(TODAY, "numpy/_core/src/multiarray/getset.c", DTYPE_GETTER).text
    assert getter.count("PyArray_DESCR(self)") == 2, getter
    _race(attempts, TODAY, "array_argsort", may_corrupt=True,
          where=lambda r: _writes_in(r, "array_argsort") and DTYPE_GETTER in r.functions())


def numpy_suppressions_hide_the_nonzero_data_race(suppressed: Outcome, *plain: Outcome) -> None:
    """Race: ``np.nonzero`` reads data another thread writes; NumPy's own suppressions hide it.

    Without the file (*plain*: attempts, as for every reported case), TSAN
    reports a race in one of the functions the file names; with it, the
    same run reports nothing.
    """
    _ran(suppressed, TODAY)
    patterns = source_file("numpy", TODAY, SUPPRESSIONS).text.splitlines()
    suppressed_names = [line.removeprefix("race:") for line in patterns if line.startswith("race:")]
    for name in suppressed_names:
        if any(name in r.functions() for outcome in plain for r in parse_reports(outcome.stderr)):
            _race(plain, TODAY, name)
            break
    else:
        raise AssertionError(f"no race naming {', '.join(suppressed_names)} in {len(plain)} runs")
    assert parse_reports(suppressed.stderr) == [] and suppressed.returncode == 0, suppressed.stderr[-3000:]


def _ran(outcome: Outcome, version: str) -> None:
    """The run ended as TSAN ends it (0, or TSAN's exit status after reports) on the release asked for.

    1 is the example's own "race observed" (sort-order's reader saw the reordered names), which TSAN
    leaves as it is.
    """
    assert outcome.returncode in (0, EXIT_RACE, TSAN_EXIT), outcome.describe()
    assert outcome.check()["numpy"] == version
    if version == TODAY:
        assert TODAY == CURRENT_NUMPY, f"the book's NumPy is {CURRENT_NUMPY}: build it with TSAN (envs.py)"


def _race(attempts: tuple[Outcome, ...], version: str, function: str, *, written_by: str | None = None,
          where: Callable[[Report], bool] = lambda report: True, may_corrupt: bool = False) -> Report:
    """The first data race with *function* in one of its two accesses' stacks, both restored, in any attempt.

    Only a race *written_by* that function (:meth:`Report.is_whole_race_in`)
    and for which *where* holds (what the claim says of it) counts: a run
    can report other races through the same function, and the claim is
    about this one.

    Attempts (``ftbook.tsan.run_until_race``): a run can miss a race whose
    accesses did not overlap; it can never invent one. With *may_corrupt*, a
    run that did not end itself (stuck, killed by a signal, or at its
    timeout) or died without its summary (a SEGV, which TSAN reports and
    ends with its own status) counts too: TSAN prints each report when it
    happens, and the environment's stamp says which release ran.
    """
    for outcome in attempts:
        if may_corrupt and (not outcome.ended_itself or outcome.summary is None):
            assert numpy_that_ran(outcome) == version, (outcome.request.env, outcome.describe())
        else:
            _ran(outcome, version)
    found = [r for outcome in attempts for r in parse_reports(outcome.stderr)
             if r.is_whole_race_in(function, written_by) and where(r)]
    seen = [r.excerpt(max_frames=2) for outcome in attempts for r in parse_reports(outcome.stderr)
            if r.is_race_in(function)]
    assert found, (f"no race naming {function}" + (f", written by {written_by}" if written_by else "")
                   + f", both stacks restored, as the claim says, in {len(attempts)} attempts; "
                   + (f"races naming it:\n{seen[0]}" if seen
                      else f"the last one's end:\n{attempts[-1].stderr[-3000:]}"))
    return found[0]


def _writes_in(report: Report, function: str) -> bool:
    return any("write" in access.header.lower() and function in {frame.function for frame in access.frames}
               for access in report.accesses)


TEST_RUNS = [
    (flat_iterator_writes_the_shared_flags_on_2_2_1, [UntilRace(FLAT_FLAGS["2.2.1"], RACING["flat-flags"])]),
    (flat_iterator_is_silent_on_2_2_2, [FLAT_FLAGS["2.2.2"]]),
    (flat_assignment_writes_the_intp_byte_order_on_2_2_1,
     [UntilRace(FLAT_BYTEORDER["2.2.1"], RACING["flat-byteorder"], BYTEORDER_WRITER)]),
    (flat_assignment_is_silent_on_2_2_2, [FLAT_BYTEORDER["2.2.2"]]),
    (ufunc_at_writes_the_shared_values_flags_today, [UntilRace(UFUNC_AT_FLAGS, RACING["ufunc-at-flags"])]),
    (writeable_setter_races_the_flags_getter_today, [UntilRace(WRITEABLE, RACING["writeable"])]),
    (argsort_order_swaps_the_shared_dtype_today, [UntilRace(SORT_ORDER, RACING["sort-order"])]),
    (numpy_suppressions_hide_the_nonzero_data_race,
     [NONZERO_SUPPRESSED, UntilRace(NONZERO, NONZERO_FUNCTION)]),
]
