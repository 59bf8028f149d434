"""Run every script in ``examples/`` as a reader would; used by ``nox -s examples``.

For each example: ``--help`` must exit 0, and a default run with ``--json``
must exit 0 within the time limit and end with a JSON summary line whose
keys the example declares (``SUMMARY_KEYS``). Defaults
are chosen by each example to be quick and to exercise the safe code path;
the chapters run the racy variants on purpose, in their own subprocesses.
"""

from __future__ import annotations

import argparse
import sys

from ftbook.gil import require_gil_disabled
from ftbook.run import COMMON_SUMMARY_KEYS, example_scripts, run_command, summary_contract


def check(script, timeout: float) -> list[str]:
    problems = []
    helped = run_command([sys.executable, script, "--help"], timeout=30)
    if helped.returncode != 0 or "usage:" not in helped.stdout:
        problems.append(f"--help: {helped.describe()}")
    ran = run_command([sys.executable, script, "--json"], timeout=timeout)
    if ran.returncode != 0:
        problems.append(f"default run: {ran.describe()}\n{ran.stderr.strip()[-2000:]}")
    elif ran.summary is None:
        problems.append("default run printed no JSON summary line")
    elif ran.summary.get("gil_enabled") is not False:
        problems.append(f"summary says gil_enabled={ran.summary.get('gil_enabled')!r}")
    elif undeclared := set(ran.summary) - COMMON_SUMMARY_KEYS - summary_contract(script.name):
        problems.append(f"summary keys not in SUMMARY_KEYS: {', '.join(sorted(undeclared))}")
    verdict = "FAIL" if problems else "ok  "
    print(f"{verdict} {script.name} ({ran.describe()}, {ran.seconds:.1f} s)", flush=True)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="only these examples (file names)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per run (default 120)")
    args = parser.parse_args()
    require_gil_disabled("nox -s examples")
    scripts = example_scripts()
    if args.names:
        scripts = [s for s in scripts if s.name in args.names]
    if not scripts:
        print("error: no examples matched", file=sys.stderr)
        return 2
    failures = {s.name: p for s in scripts if (p := check(s, args.timeout))}
    for name, problems in failures.items():
        print(f"\n{name}:\n  " + "\n  ".join(problems))
    print(f"\n{len(scripts) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
