"""What would send one of the book's patches upstream: the text of an issue and of a pull request.

Both are made from two things and nothing else: the patch itself (its
title, what it says goes wrong, its remedy, the tests it adds: see
``patches/README.md`` for the form) and the build's own runs of those tests
on the release and on the patched build (``examples/pytest_runs.py``
summaries). Nothing in them is written twice: change the patch or the
results, and the texts follow. They are this book's proposals, and say so.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from ftbook.tables import counted
from ftbook.tsan import parse_reports

# What the texts say of themselves, first thing: a reader must not take them for NumPy's.
PROPOSAL = ("Drafted by the free-threading metadata book from its own build's runs; a proposal, "
            "not a NumPy issue or pull request.")


@dataclass(frozen=True)
class Patch:
    """One of the book's patches, read: what a NumPy commit message and diff hold."""

    path: Path
    title: str                 # "BUG: ..."
    explanation: list[str]     # the paragraphs between the title and the remedy
    remedy: str                # the paragraph that starts "Remedy:", without it
    tests: dict[str, str]      # each added test function's name -> its source

    @property
    def files(self) -> list[str]:
        """The files the diff changes, as ``a/...`` names them."""
        return re.findall(r"^--- a/(\S+)", self.path.read_text(), re.MULTILINE)


def read_patch(path: Path) -> Patch:
    """*path*, parsed; a patch that is not in the book's form says which part is missing."""
    text = path.read_text()
    head, diff_start, _ = text.partition("\n--- a/")
    if not diff_start:
        raise ValueError(f"{path.name}: no diff (no '--- a/' line)")
    title, *paragraphs = [" ".join(part.split()) for part in head.strip().split("\n\n")]
    remedies = [part for part in paragraphs if part.startswith("Remedy: ")]
    if len(remedies) != 1:
        raise ValueError(f"{path.name}: needs one paragraph that starts 'Remedy: '")
    explanation = paragraphs[:paragraphs.index(remedies[0])]
    return Patch(path, title, explanation, remedies[0].removeprefix("Remedy: "), _added_tests(text))


def _added_tests(text: str) -> dict[str, str]:
    """The top-level test functions the diff adds (with their decorators), by name, in order."""
    tests: dict[str, str] = {}
    block: list[str] = []
    for line in [*text.splitlines(), ""]:
        added = line[1:] if line.startswith("+") and not line.startswith("+++") else None
        decorated = bool(block) and block[-1].startswith("@")  # a def after its decorator goes on the block
        starts = added is not None and added.startswith(("def ", "@")) and not decorated
        if block and (added is None or starts):
            name = re.search(r"^def (test_\w+)\(", "\n".join(block), re.MULTILINE)
            if name:
                tests[name[1]] = "\n".join(block).strip() + "\n"
            block = []
        if added is not None and (block or starts):
            block.append(added)
    return tests


def how_runs_ended(summary: dict, racing: str | None) -> str:
    """One line for a request's runs: how each ended, pytest's counts, and what TSAN reported.

    *racing*: the function a race's report must have in a stack (None for a
    test that fails by its own assertion).
    """
    said = []
    for run in summary["runs"]:
        counts = ", ".join(f"{n} {word}" for word, n in run["tally"].items() if word in ("passed", "failed"))
        said.append(run["ended"].replace(" (exit 66)", "") + (f" ({counts})" if counts else ""))
    reports = sum(run["tsan_reports"] for run in summary["runs"])
    if not reports:
        return f"{'; '.join(said)}; no TSAN report"
    named = racing and reported_race(summary, racing)
    among = f"{', among them' if reports > 1 else ':'} the race in `{racing}`" if named else ""
    return f"{'; '.join(said)}; {counted(reports, 'TSAN report')}{among}"


def reported_race(summary: dict, racing: str):
    """The report, in a request's kept stderr, of the race *racing* is in: the first whose racing write
    is that function's own (the race a fix is about, not one that only passes through it), else the
    first with it in a stack, else None."""
    reports = [report for run in summary["runs"] for report in parse_reports(run.get("stderr", ""))
               if report.is_race_in(racing)]
    return next((report for report in reports if report.write_by(racing)), reports[0] if reports else None)


def what_the_release_said(summary: dict, test: str, racing: str | None) -> str:
    """For one test on the release: ThreadSanitizer's report of its race, or pytest's message for it."""
    if racing:
        report = reported_race(summary, racing)
        if report:
            return report.excerpt(max_frames=6)
        return f"(no report in {counted(len(summary['runs']), 'run')})"
    messages = [message for run in summary["runs"] for node, message in run.get("failures", {}).items()
                if node.split("::")[-1].split("[")[0] == test]
    return "\n".join(dict.fromkeys(messages)) or "(pytest printed no failure for it)"


def upstream_issue(patch: Patch) -> str | None:
    """The NumPy issue a patch's title names (``gh-30540`` -> ``numpy/numpy#30540``), if it names one."""
    found = re.search(r"\bgh-(\d+)", patch.title)
    return f"numpy/numpy#{found[1]}" if found else None


def issue_text(patch: Patch, said: dict[str, str], versions: dict, *,
               build: list[str], run: list[str]) -> str:
    """The issue a user would file: what goes wrong, a reproducer, what the release said, versions.

    *said*: :func:`what_the_release_said` for each of the patch's tests;
    *versions*: a run's summary (its ``numpy``, ``python``, ``gil_enabled``);
    *build* and *run*: the commands that built NumPy and ran the tests, as a reader types them.
    """
    messages = "\n\n".join(f"{test}:\n{said[test]}" for test in patch.tests)
    return "\n".join([
        f"# {patch.title.removeprefix('BUG: ')}", "", f"_{PROPOSAL}_", "",
        "### Describe the issue:", "", *_paragraphs(patch.explanation[:1]),
        "### Reproduce the code example:", "",
        "These tests, added to `numpy/_core/tests/test_multithreading.py` (whose imports they use):", "",
        "```python", "\n\n".join(patch.tests.values()).rstrip(), "```", "",
        "Run on NumPy built with ThreadSanitizer:", "", "```sh", *run, "```", "",
        "### Error message:", "", "```", messages, "```", "",
        "### Python and NumPy Versions:", "",
        f"NumPy {versions['numpy']}, CPython {versions['python']} free-threaded "
        f"(`sys._is_gil_enabled()`: {versions['gil_enabled']}), both built with ThreadSanitizer:", "",
        "```sh", *build, "```", "",
        "### Runtime Environment:", "",
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs.", "",
    ])


def pull_request_text(patch: Patch, ended: dict[str, tuple[str, str]], versions: dict, *,
                      sharing: tuple[Patch, ...] = ()) -> str:
    """The pull request: what changes and why this remedy, the tests, and how they ran on both builds.

    *ended*: for each of the patch's tests, :func:`how_runs_ended` on the
    release and on the patched build. *sharing*: the book's other patches
    that name the same NumPy issue; with them, this one fixes only part of it.
    """
    issue = upstream_issue(patch)
    closes = f"Closes {issue}." if issue else "Closes the issue drafted with it."
    if issue and sharing:
        closes = f"Part of {issue}, with " + ", ".join(f"`{other.path.name}`" for other in sharing) + "."
    return "\n".join([
        f"# {patch.title}", "", f"_{PROPOSAL}_", "",
        *_paragraphs(patch.explanation),
        f"**Why this remedy:** {patch.remedy}", "",
        closes, "",
        "#### Changes", "", *(f"- `{name}`" for name in patch.files), "",
        "#### Tests", "",
        "Adds to `numpy/_core/tests/test_multithreading.py`, run as NumPy's ThreadSanitizer job runs its "
        "tests (its `TSAN_OPTIONS` and suppressions file):", "",
        *(f"- `{test}`: on NumPy {versions['numpy']} as released, {ended[test][0]}; "
          f"with this patch, {ended[test][1]}" for test in patch.tests), "",
    ])


def _paragraphs(paragraphs: list[str]) -> list[str]:
    return [line for paragraph in paragraphs for line in (paragraph, "")]
