"""What runs what: a chapter's inputs, and who reads an example's summary keys.

    ./nox -s uses                       # every chapter, with what it runs
    ./nox -s uses -- root-cause         # one chapter: examples, environments, ftbook modules
    ./nox -s uses -- finalize_window.py # the chapters, claims and tests that run it, key by key

Before you rename a summary key or change what an example prints, the
last form tells you every page and test that reads it. The keys are the
example's ``SUMMARY_KEYS`` (checked on every run by ``ftbook.run``); a key
no one reads is listed as such. Reads files only; runs nothing.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ftbook.build.cells import chapter_name, find_chapter, notebooks
from ftbook.build.inputs import Inputs, chapter_inputs
from ftbook.run import EXAMPLES, ROOT, summary_contract

TESTS = ROOT / "tests"


def inputs_of(chapter: Path) -> Inputs:
    return chapter_inputs(chapter.read_text())


def describe_chapter(chapter: Path) -> list[str]:
    inputs = inputs_of(chapter)
    modules = [str(p.relative_to(ROOT)) for p in inputs.files if not p.is_relative_to(EXAMPLES)]
    return [
        f"{chapter_name(chapter)} ({chapter.relative_to(ROOT)})",
        f"  examples:          {', '.join(inputs.examples) or 'none'}",
        f"  book environments: {', '.join(inputs.env_names) or 'none (the kernel only)'}",
        f"  released sources:  {'yes' if inputs.needs_sources else 'no'}",
        f"  ftbook modules:    {', '.join(modules)}",
    ]


def _reads(text: str, key: str) -> bool:
    return re.search(rf"[\"']{re.escape(key)}[\"']", text) is not None


def readers_of(example: str) -> list[str]:
    """Who runs *example*, and for each of its summary keys, which of those files read it."""
    running = {chapter: inputs for chapter in notebooks()
               if example in (inputs := inputs_of(chapter)).examples}
    chapters = list(running)
    claims = sorted({p for inputs in running.values() for p in inputs.files if p.parent.name == "claims"
                     and example in p.read_text()})
    named = re.compile(rf"\b{re.escape(example)}\b")
    tests = sorted(p for p in TESTS.glob("test_*.py") if named.search(p.read_text()))
    if claims:  # tests/test_claims.py runs every claims module's TEST_RUNS
        tests = sorted({*tests, TESTS / "test_claims.py"})
    readers = {chapter_name(c): c.read_text() for c in chapters}
    readers |= {str(p.relative_to(ROOT)): p.read_text() for p in [*claims, *tests]}
    lines = [f"{example}",
             f"  run by chapters: {', '.join(chapter_name(c) for c in chapters) or 'none'}",
             f"  claims:          {', '.join(str(p.relative_to(ROOT)) for p in claims) or 'none'}",
             f"  tests:           {', '.join(str(p.relative_to(ROOT)) for p in tests) or 'none'}",
             "  summary keys (SUMMARY_KEYS), and who reads each:"]
    for key in sorted(summary_contract(example)):
        who = [name for name, text in readers.items() if _reads(text, key)]
        lines.append(f"    {key:<24} {', '.join(who) or '(read by no chapter or test)'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftbook.tools.uses", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", help="a chapter (root-cause, family/restore) or an example (x.py)")
    args = parser.parse_args(argv)
    if args.name is None:
        for chapter in notebooks():
            print("\n".join(describe_chapter(chapter)))
        return 0
    if (EXAMPLES / args.name).is_file():
        print("\n".join(readers_of(args.name)))
        return 0
    try:
        print("\n".join(describe_chapter(find_chapter(args.name))))
    except ValueError as error:
        examples = ", ".join(p.name for p in sorted(EXAMPLES.glob("*.py")))
        print(f"error: {error}; or an example: {examples}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
