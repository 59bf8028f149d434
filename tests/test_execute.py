"""ftbook.build.execute: chapters side by side, each when its needs are ready, the measured ones alone."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from pathlib import Path

import pytest

from ftbook.build import execute
from ftbook.build.cells import DOCS, chapter_name, notebooks
from ftbook.build.execute import KERNEL, Chapter, ChapterFailed, Readiness, execute_ahead, plan, runs_alone
from ftbook.build.inputs import Inputs
from ftbook.build.phases import Phases, machine_cpu_seconds, read_report
from ftbook.run import ROOT

CELL = "---\nfile_format: mystnb\n---\n\n```{code-cell} ipython3\nprint(1)\n```\n"


def chapter(name: str, *needs: str, alone: str | None = None) -> Chapter:
    return Chapter(Path(f"/nowhere/{name}.md"), name, CELL, Inputs((), ()), frozenset({KERNEL, *needs}),
                   alone)


class Timeline:
    """A stand-in for running a chapter's process: it records when each started and ended."""

    def __init__(self, seconds: float = 0.3):
        self.seconds = seconds
        self.lock = threading.Lock()
        self.spans: dict[str, tuple[float, float]] = {}

    def __call__(self, chapter: Chapter, python: Path, log) -> float:
        started = time.monotonic()
        time.sleep(self.seconds)
        with self.lock:
            self.spans[chapter.name] = (started, time.monotonic())
        return self.seconds

    def overlap(self, a: str, b: str) -> bool:
        (a0, a1), (b0, b1) = self.spans[a], self.spans[b]
        return a0 < b1 and b0 < a1


@pytest.fixture
def timeline(monkeypatch, tmp_path) -> Timeline:
    monkeypatch.setattr(execute, "MARKERS", tmp_path / "markers")  # no chapter counts as executed before
    fake = Timeline()
    monkeypatch.setattr(execute, "_execute", fake)
    return fake


def ready(*names: str) -> Readiness:
    readiness = Readiness()
    readiness.expect([KERNEL, *names])
    for name in (KERNEL, *names):
        readiness.mark(name)
    return readiness


def test_chapters_run_side_by_side_up_to_the_number_of_workers(timeline):
    execute_ahead([chapter("a"), chapter("b"), chapter("c")], Path("python"), ready(), print, workers=2)
    assert timeline.overlap("a", "b")  # two at once...
    assert not (timeline.overlap("a", "c") and timeline.overlap("b", "c"))  # ...never three


def test_one_worker_runs_the_chapters_one_at_a_time(timeline):
    execute_ahead([chapter("a"), chapter("b")], Path("python"), ready(), print, workers=1)
    assert not timeline.overlap("a", "b")


def test_a_chapter_starts_when_what_it_needs_is_ready_not_before(timeline):
    readiness = Readiness()
    provision = readiness.chain(["tsan"], lambda: (time.sleep(0.5), readiness.mark("tsan")))
    readiness.expect([KERNEL])
    readiness.mark(KERNEL)
    started = time.monotonic()
    thread = threading.Thread(target=provision)
    thread.start()
    execute_ahead([chapter("needs-tsan", "tsan"), chapter("kernel-only")], Path("python"), readiness, print,
                  workers=2)
    thread.join()
    assert timeline.spans["needs-tsan"][0] - started >= 0.5
    assert timeline.spans["kernel-only"][0] - started < 0.5  # did not wait for the TSAN environment


def test_a_chapter_that_runs_alone_waits_for_provisioning_and_has_the_machine_to_itself(timeline):
    readiness = ready()
    provisioning_over = []

    def provision_slowly():
        time.sleep(0.6)
        provisioning_over.append(time.monotonic())
        readiness.mark("slow env")

    provision = readiness.chain(["slow env"], provision_slowly)
    thread = threading.Thread(target=provision)
    thread.start()
    execute_ahead([chapter("timed", alone="timings"), chapter("a"), chapter("b"), chapter("c")],
                  Path("python"), readiness, print, workers=2)
    thread.join()
    assert timeline.spans["timed"][0] >= provisioning_over[0]
    assert not any(timeline.overlap("timed", other) for other in "abc")
    assert timeline.overlap("a", "b") or timeline.overlap("b", "c")  # the others still ran side by side


def test_a_chapter_whose_environment_failed_is_named_and_the_others_still_run(timeline):
    readiness = Readiness()
    failing = readiness.chain([KERNEL, "tsan"], lambda: readiness.mark(KERNEL) or 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing()
    with pytest.raises(ChapterFailed, match=r"^needs-tsan: not executed: tsan could not be prepared$"):
        execute_ahead([chapter("needs-tsan", "tsan"), chapter("kernel-only")], Path("python"), readiness,
                      print, workers=2)
    assert list(timeline.spans) == ["kernel-only"]


def test_a_need_nothing_prepares_fails_the_chapter_instead_of_waiting_forever(timeline):
    with pytest.raises(ChapterFailed, match="numpy-9.9 could not be prepared"):
        execute_ahead([chapter("x", "numpy-9.9")], Path("python"), ready(), print, workers=1)


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_job_count_is_one_clear_message(monkeypatch, value):
    monkeypatch.setenv(execute.JOBS_VARIABLE, value)
    with pytest.raises(ChapterFailed, match=rf"^FTBOOK_JOBS='{value}': give a whole number"):
        execute.jobs()


def test_runs_alone_is_read_from_the_front_matter_only():
    front = "---\nfile_format: mystnb\nruns-alone: its table is timings\n---\n# T\n"
    assert runs_alone(front) == "its table is timings"
    assert runs_alone("---\nfile_format: mystnb\n---\nruns-alone: not front matter\n") is None


# What in a chapter's code makes its output a timing or a rate: a clock, a run's seconds, a stress run.
MEASURES = re.compile(r"timeit|perf_counter|metadata_bench|\.seconds\b|\[['\"]seconds['\"]\]"
                      r"|['\"]--mode['\"],\s*['\"]stress['\"]|\bSTRESS\s*=")
# Chapters that print seconds measured elsewhere, not by running beside other chapters.
MEASURED_ELSEWHERE = {"finding-races/build-cpython": "the interpreters' build times, from provisioning"}


def test_every_chapter_that_measures_a_timing_or_a_rate_runs_alone():
    for path in notebooks():
        text = path.read_text()
        code = "\n".join(re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, re.S))
        if MEASURES.search(code) and chapter_name(path) not in MEASURED_ELSEWHERE:
            found = MEASURES.search(code)[0]
            assert runs_alone(text), f"{chapter_name(path)} measures ({found}) but does not run alone"


def test_the_key_of_a_chapter_executed_ahead_is_the_one_myst_nb_looks_up(tmp_path):
    """ftbook.build.execute reads each chapter as myst-nb will, under this book's Sphinx configuration.

    If the two readers disagreed, Sphinx would find nothing in the cache and
    execute every chapter again, one at a time (and the build's own check,
    EXECUTED_AHEAD, would fail it).
    """
    from jupyter_cache import get_cache
    from myst_nb.core.read import create_nb_reader
    from sphinx.application import Sphinx

    app = Sphinx(str(DOCS), str(DOCS), str(tmp_path / "html"), str(tmp_path / "doctrees"), "html",
                 status=None, warning=None)
    cache = get_cache(str(tmp_path / "cache"))
    for path in notebooks():
        text, _ = execute.stamped(path)
        ours = execute._notebook(path, text)
        theirs = create_nb_reader(str(path), app.env.myst_config, app.env.mystnb_config, text).read(text)
        assert cache.create_hashed_notebook(ours)[1] == cache.create_hashed_notebook(theirs)[1], path.name


def test_the_plan_knows_what_each_chapter_waits_for():
    chapters = {c.name: c for c in plan(Path(os.sys.prefix))}
    assert chapters["family/index"].needs == {KERNEL}
    assert {"sources", "tsan-numpy-2.2.2", execute.DEMO_TSAN} <= chapters["root-cause"].needs
    assert chapters["the-bug"].alone
    assert all(c.path.is_relative_to(ROOT / "docs") for c in chapters.values())


def test_the_phase_report_reads_back_and_measures_real_cpu():
    phases = Phases()
    phases.start("spinning")
    end = time.monotonic() + 0.3
    while time.monotonic() < end:  # one core busy for 0.3 s
        pass
    phases.end("spinning")
    phases.start("never ended")
    (line,) = phases.report()
    read = read_report(f"nox > ==> {line}")["spinning"]
    assert read["wall_seconds"] >= 0.3
    if machine_cpu_seconds() is not None:  # Linux: the machine's busy time covers the spin
        assert read["cpu_seconds"] >= 0.2


# Chapters whose outputs depend on nothing that varies between runs (no timing, no race), each a few seconds.
DETERMINISTIC = ("family/index", "guarantees", "python-3-15")


WHEN = re.compile(r"Executed \d{4}-\d\d-\d\d \d\d:\d\d UTC")  # the first cell's stamp: when, to the minute


def stored_outputs(cache: Path) -> dict[str, str]:
    """Each chapter's code cells' outputs as the execution cache holds them for Sphinx, but for when."""
    from jupyter_cache import get_cache

    stored = get_cache(str(cache))
    outputs = {}
    for record in stored.list_cache_records():
        cells = stored.get_cache_bundle(record.pk).nb.cells
        code = [cell.get("outputs") for cell in cells if cell.cell_type == "code"]
        outputs[Path(record.uri).stem] = WHEN.sub("Executed (when) UTC", json.dumps(code, sort_keys=True))
    return outputs


@pytest.mark.needs_envs("sources")
def test_chapters_side_by_side_store_what_one_at_a_time_stores(tmp_path, monkeypatch):
    """The pages are the same either way: real chapters, real kernels, two processes sharing one cache."""
    paths = [path for path in notebooks() if chapter_name(path) in DETERMINISTIC]
    outputs = {}
    for workers in (1, 2):
        monkeypatch.setattr(execute, "EXECUTION_CACHE", tmp_path / f"cache-{workers}")
        monkeypatch.setattr(execute, "MARKERS", tmp_path / f"markers-{workers}")
        chapters = plan(Path(sys.prefix), paths)
        readiness = ready(*{need for chapter in chapters for need in chapter.needs} - {KERNEL})
        seconds = execute_ahead(chapters, Path(sys.executable), readiness, print, workers=workers)
        assert sorted(seconds) == sorted(DETERMINISTIC)
        assert all(chapter.is_done() for chapter in chapters)
        outputs[workers] = stored_outputs(tmp_path / f"cache-{workers}")
    assert len(outputs[1]) == len(DETERMINISTIC) and outputs[1] == outputs[2]
