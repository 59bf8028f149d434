"""Run the demo extension under ThreadSanitizer and read what TSAN says.

The book's ``tsan`` environment is a ``--disable-gil --with-thread-sanitizer``
CPython; ``examples/demo_patterns.py --sanitize thread`` builds the demo
extension with ``-fsanitize=thread`` for it. A TSAN report is long (every
frame down to ``main``); chapters show the frames that matter, so this module
parses reports into :class:`Report` objects and trims them.

    run = run_demo("mutate-restore")
    run.reports[0].excerpt()      # the race, trimmed
    run.races_in("repeat_mutate_restore")
"""

from __future__ import annotations

import collections
import dataclasses
import re
import time
from collections.abc import Mapping
from pathlib import PurePath

from ftbook.provision.envs import installed_version
from ftbook.run import ExampleRun, Outcome

# halt_on_error: stop at the first report (the race corrupts memory next, and
# a SEGV after the report only adds noise); exitcode: a value no crash or
# ordinary exit uses, so "TSAN reported" is unmistakable; history_size: TSAN
# keeps a bounded history of each thread's accesses, and a report whose older
# access fell out of it prints "[failed to restore the stack]" for that access,
# with no frames, so that neither a claim about its function nor a suppression
# naming it can match (with the runtime's default, a cold numpy-under-tsan build here
# printed one, and CI's locking build failed on a report naming only the
# reader's frames). 7 keeps the most (the runtime's own help, shown in
# finding-races/thread-sanitizer).
TSAN_EXIT = 66
HISTORY_SIZE = 7
DEFAULT_OPTIONS = {"halt_on_error": "1", "exitcode": str(TSAN_EXIT), "history_size": str(HISTORY_SIZE)}

_START = re.compile(r"^WARNING: ThreadSanitizer: (?P<kind>.+?)(?: \(pid=\d+\))?$")
_FRAME = re.compile(r"^\s+#(?P<n>\d+) (?P<function>\S+) (?P<location>.+?)(?: \((?P<module>[^()]*)\))?$")
_SECTION = re.compile(r"^  (?P<header>\S.*):$")


@dataclasses.dataclass
class Frame:
    function: str
    location: str  # "file.c:189" (folders dropped), or "<null>"
    module: str  # "metadata_demo...so+0x1a2b" -> "metadata_demo...so"


@dataclasses.dataclass
class Access:
    """One section of a report: ``Write of size 8 ... by thread T2`` and its stack."""

    header: str
    frames: list[Frame]

    @property
    def short_header(self) -> str:
        """The header without the address, which changes from run to run."""
        return re.sub(r" at 0x[0-9a-f]+", "", self.header)

    @property
    def own_top(self) -> Frame | None:
        """The innermost frame outside TSAN's runtime (whose interceptors, ``memcpy`` say, do the access)."""
        return next((frame for frame in self.frames if not frame.module.startswith("libtsan")), None)

    @property
    def restored(self) -> bool:
        """TSAN could give this access's stack (see :data:`HISTORY_SIZE`)."""
        return bool(self.frames)

    def frame_of(self, function: str) -> Frame | None:
        """The innermost frame of *function* in this access's stack, or None."""
        return next((frame for frame in self.frames if frame.function == function), None)


@dataclasses.dataclass
class Report:
    kind: str  # "data race", "heap-use-after-free", ...
    sections: list[Access]
    summary: str

    @property
    def accesses(self) -> list[Access]:
        """The racing accesses (the first two sections of a data race)."""
        return [s for s in self.sections if re.match(r"(Previous )?(atomic )?(read|write)", s.header, re.I)]

    def functions(self) -> set[str]:
        return {frame.function for access in self.accesses for frame in access.frames}

    @property
    def restored(self) -> bool:
        """Both accesses' stacks are in the report (see :data:`HISTORY_SIZE`)."""
        return all(access.restored for access in self.accesses)

    def is_race_in(self, function: str) -> bool:
        """A data race with *function* in the stack of one of its two accesses."""
        return self.kind == "data race" and function in self.functions()

    def write_by(self, function: str) -> Access | None:
        """The racing write whose innermost frame of our code (not TSAN's) is *function*, or None."""
        return next((access for access in self.accesses if "write" in access.header.lower()
                     and access.own_top is not None and access.own_top.function == function), None)

    def is_whole_race_in(self, function: str, written_by: str | None = None) -> bool:
        """A race in *function* whose two stacks TSAN restored, so that a claim can read either.

        With *written_by*, only the race whose write :meth:`write_by` that
        function: one run can report several races with *function* in a
        stack (``y.flat[x] = x`` on NumPy 2.2.1 reports its byte-order write
        and, in some runs, a flags write beneath the same call), and a claim
        about one of them must neither stop at nor read the other.
        """
        return (self.is_race_in(function) and self.restored
                and (written_by is None or self.write_by(written_by) is not None))

    def excerpt(self, max_frames: int = 4, through: str | None = None) -> str:
        """The kind, each access with its top frames, and the summary line.

        TSAN's own interceptor frames (``memcpy`` inside libtsan) are folded
        into one line. With *through* (a module name such as
        ``"metadata_demo"``), each stack is shown down to the first frame in
        that module, however deep (up to 12), so the reader sees how the
        access got there from our code.
        """
        lines = [f"WARNING: ThreadSanitizer: {self.kind}"]
        for access in self.accesses:
            frames = _fold_interceptors(access.frames)
            shown = max_frames
            if through is not None:
                ours = next((i for i, f in enumerate(frames) if through in f.module), None)
                if ours is not None:
                    shown = min(max(ours + 1, max_frames), 12)
            lines.append(f"  {access.short_header}:")
            for n, frame in enumerate(frames[:shown]):
                where = frame.location if frame.location != "<null>" else f"({frame.module})"
                lines.append(f"    #{n} {frame.function} {where}")
            if len(frames) > shown:
                lines.append(f"    ... {len(frames) - shown} more frames")
        lines.append(self.summary)
        return "\n".join(lines)


def _fold_interceptors(frames: list[Frame]) -> list[Frame]:
    folded: list[Frame] = []
    for frame in frames:
        if frame.module.startswith("libtsan"):
            if folded and folded[-1].function == frame.function:
                continue  # the interceptor calls itself; one line is enough
            frame = Frame(frame.function, "(TSAN interceptor)", frame.module)
        folded.append(frame)
    return folded


def parse_reports(text: str) -> list[Report]:
    """Every ``WARNING: ThreadSanitizer`` report in *text* (a process's stderr)."""
    reports: list[Report] = []
    current: Report | None = None
    for line in text.splitlines():
        if match := _START.match(line):
            current = Report(match["kind"], [], "")
            reports.append(current)
        elif current is None:
            continue
        elif line.startswith("SUMMARY: ThreadSanitizer:"):
            current.summary = _drop_folders(line)
            current = None
        elif match := _SECTION.match(line):
            current.sections.append(Access(match["header"], []))
        elif (match := _FRAME.match(line)) and current.sections:
            module = (match["module"] or "").split("+0x")[0]
            current.sections[-1].frames.append(
                Frame(match["function"], _drop_folders(match["location"]), PurePath(module).name)
            )
    return reports


def _drop_folders(text: str) -> str:
    # The build machine's paths are noise for a reader:
    #   /root/.cache/x/metadata_demo.c:189 -> metadata_demo.c:189
    #   (/root/.../_multiarray_umath...so+0x17bf72) -> (_multiarray_umath...so)
    text = re.sub(r"(?:[^\s/():]*/)+([^\s/():]+:\d+)", r"\1", text)
    return re.sub(r"\((?:[^\s()]*/)?([^\s/()]+?)\+0x[0-9a-f]+\)", r"(\1)", text)


@dataclasses.dataclass
class TsanRun:
    outcome: Outcome
    reports: list[Report]

    @property
    def request(self):
        """What was run (so that ``commands_box`` takes a TSAN run as it takes an outcome)."""
        return self.outcome.request

    @property
    def reported(self) -> bool:
        return bool(self.reports) or self.outcome.returncode == TSAN_EXIT

    def races_in(self, function: str) -> list[Report]:
        return [r for r in self.reports if r.is_race_in(function)]

    def whole_races_in(self, function: str, written_by: str | None = None) -> list[Report]:
        return [r for r in self.reports if r.is_whole_race_in(function, written_by)]

    def kinds(self) -> str:
        """The kinds of report the run printed, counted ("2 × data race, 1 × SEGV"), or "none"."""
        found = collections.Counter(report.kind for report in self.reports)
        return ", ".join(f"{n} × {kind}" for kind, n in found.items()) or "none"


def numpy_that_ran(outcome: Outcome) -> str | None:
    """The NumPy release a TSAN run ran: its summary's, else its environment's stamp.

    A race can go on to crash the process after TSAN's report; TSAN then
    reports the SEGV too and exits with its own status, and the script
    prints no summary.
    """
    if outcome.summary is not None:
        return outcome.check()["numpy"]
    return installed_version(outcome.request.env, "numpy")


def tsan_options(**extra: str) -> str:
    """A ``TSAN_OPTIONS`` value: the book's defaults, then *extra* (which win)."""
    return " ".join(f"{key}={value}" for key, value in {**DEFAULT_OPTIONS, **extra}.items())


def tsan_request(
    name: str,
    *args: str,
    timeout: float = 240,
    options: Mapping[str, str] | None = None,
    env: str | None = None,
    variables: tuple[tuple[str, str], ...] = (),
) -> ExampleRun:
    """``examples/<name>`` on the TSAN interpreter with the book's TSAN_OPTIONS, as a request to run.

    *env* is a book environment on that interpreter: ``tsan`` when None
    (NumPy from PyPI, uninstrumented) or ``tsan-numpy-<release>`` (NumPy
    itself built with ThreadSanitizer). *options* add to or override
    :data:`DEFAULT_OPTIONS`. Examples that use
    the demo extension need ``--sanitize thread`` among *args*; it is
    compiled with ``-fsanitize=thread`` on first use (the docs session does
    it beforehand, so chapters do not pay for it). *variables* are more
    environment variables for the run.
    """
    variables = (("TSAN_OPTIONS", tsan_options(**(options or {}))), *variables)
    if env is None:  # named here, literally, so that a chapter using this module declares it
        return ExampleRun(name, args, env="tsan", variables=variables, timeout=timeout)
    return ExampleRun(name, args, env=env, variables=variables, timeout=timeout)


def demo_request(
    pattern: str,
    *args: str,
    threads: int = 2,
    iterations: int = 20000,
    timeout: float = 240,
    options: Mapping[str, str] | None = None,
) -> ExampleRun:
    """One demo pattern (``demo_patterns.py``) stressed under TSAN, as a request to run."""
    return tsan_request(
        "demo_patterns.py", "--pattern", pattern, "--mode", "stress", "--sanitize", "thread",
        "--threads", str(threads), "--iterations", str(iterations), "--json", *args,
        timeout=timeout, options=options,
    )


def run_demo(pattern: str, *args: str, **request) -> TsanRun:
    """Run :func:`demo_request` (same arguments) and parse TSAN's reports."""
    return run_under_tsan(demo_request(pattern, *args, **request))


def run_under_tsan(request: ExampleRun) -> TsanRun:
    outcome = request.run()
    return TsanRun(outcome, parse_reports(outcome.stderr))


@dataclasses.dataclass(frozen=True)
class UntilRace:
    """Evidence that is timing: *request* run until TSAN reports a whole race naming *function*.

    A claim module lists it in its ``TEST_RUNS`` where a plain request would
    be run once: the tests run it as :func:`run_until_race` does (and with
    every core busy, tests/test_claims.py), and ``ftbook.tools.under_load``
    measures how often one run misses. What it is run as (``env``, ``gil``,
    ...) is the request's.
    """

    request: ExampleRun
    function: str
    written_by: str | None = None  # see Report.is_whole_race_in

    def __getattr__(self, name: str):
        if name == "request":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.request, name)

    def outcomes(self, seconds: float | None = None) -> list[Outcome]:
        runs = run_until_race(self.request, self.function, RACE_SECONDS if seconds is None else seconds,
                              written_by=self.written_by)
        return [run.outcome for run in runs]


# Seconds a race that should be reported gets to be reported (ftbook.tools.under_load measured why;
# the measurements page shows each race's miss rate with both cores busy). At least one run, always.
RACE_SECONDS = 150


def run_until_race(request: ExampleRun, function: str, seconds: float = RACE_SECONDS, *,
                   written_by: str | None = None) -> list[TsanRun]:
    """Run *request* until TSAN reports a whole data race naming *function*, or *seconds* are spent.

    Whole: both stacks restored (:attr:`Report.restored`); with
    *written_by*, only a race whose write is that function's
    (:meth:`Report.is_whole_race_in`).

    A race in NumPy's code on a free-threaded CPython is reported only when
    the two accesses really overlap: in between, the threads' atomic updates
    of a shared object's reference count order them, as a lock would. So one
    run can miss it, more often on a busy machine, where the threads share
    the cores with other work. The budget is in time, not tries: another run
    starts while *seconds* are not spent (so one run may end after them),
    which gives a race that runs often miss as many runs as fit, and bounds
    what a chapter can spend on it. A run that reports is the last; every
    run is kept and shown.
    """
    runs: list[TsanRun] = []
    started = time.monotonic()
    while not runs or (not runs[-1].whole_races_in(function, written_by)
                       and time.monotonic() - started < seconds):
        runs.append(run_under_tsan(request))
    return runs
