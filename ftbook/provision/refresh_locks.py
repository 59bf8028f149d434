"""Refresh every lock in ``requirements/`` on purpose, and say what changed.

    ./nox -s lock                  # what the project runs (uv from requirements/uv.txt)
    python -m ftbook.provision.refresh_locks --uv /path/to/uv [--check]

Each lock is compiled by ``uv pip compile --universal --generate-hashes``
from what :mod:`ftbook.provision.locks` (and :mod:`ftbook.provision.envs`, for the book
environments) says it is made of, into a temporary file; the lock is
replaced only when every compile has succeeded, each by an atomic rename.
The NumPy sdists' hashes are asked of PyPI's JSON API. Then one line per
changed pin: ``book: numpy 2.5.5 -> 2.6.0``.

``--check`` compiles and reports, but writes nothing, and exits 1 when a
lock would change. ``--only NAME`` (again for more) compiles only those
locks, against the others as they are: a new requirement goes in without
moving every other pin to what PyPI has today.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ftbook import ProvisionError
from ftbook.provision.cache import folder_lock
from ftbook.provision.envs import BOOK_ENVS
from ftbook.provision.locks import REFRESH_COMMAND, REQUIREMENTS, ROOT, SESSION_LOCKS, Lock, pins
from ftbook.provision.sources import SDIST_LOCK, sdist_info, sdist_releases

COMPILE_TIMEOUT = 600


def all_locks() -> list[Lock]:
    """Every lock, each after the lock it is constrained by."""
    locks = [*SESSION_LOCKS, *(env.lock for env in BOOK_ENVS.values() if env.lock)]
    unique = list(dict.fromkeys(locks))  # the ThreadSanitizer NumPy environments share one lock
    return sorted(unique, key=lambda lock: lock.constrained_by is not None)


def compile_lock(uv: str, lock: Lock, out: Path, compiled: dict[str, Path]) -> None:
    """Compile *lock* into *out* (constraints read from the new versions already in *compiled*)."""
    command = [uv, "pip", "compile", "--quiet", "--universal", "--generate-hashes",
               "--python-version", lock.python, "--custom-compile-command", REFRESH_COMMAND,
               "--output-file", str(out)]
    if lock.constrained_by:
        command += ["--constraints", str(compiled[lock.constrained_by])]
    if lock.group:
        command += ["--group", f"{ROOT / 'pyproject.toml'}:{lock.group}"]
        given = None
    else:
        command += ["-"]
        given = "\n".join(lock.requirements) + "\n"
    done = subprocess.run(command, input=given, capture_output=True, text=True, timeout=COMPILE_TIMEOUT,
                          cwd=ROOT)
    if done.returncode != 0:
        raise ProvisionError(f"uv could not compile {lock.name}:\n{done.stderr.strip()}")
    # uv's "via -c <constraints>" notes name the temporary folder; name where the file will live.
    temporary = out.parent.relative_to(ROOT).as_posix()
    out.write_text(out.read_text().replace(f"{temporary}/", f"{REQUIREMENTS.relative_to(ROOT).as_posix()}/"))


def sdist_lock_text(current: str) -> str:
    """``numpy==X --hash=sha256:...`` for every sdist the chapters read, from PyPI's JSON API."""
    lines = ["# The NumPy source distributions the chapters read (ftbook.provision.sources).",
             f"# Written by {REFRESH_COMMAND} from PyPI's JSON API; checked before anything is unpacked."]
    for version in sdist_releases(current):
        info = sdist_info("numpy", version)
        lines.append(f"numpy=={version} --hash=sha256:{info['sha256']}")
    return "\n".join(lines) + "\n"


def changes(name: str, old: str, new: str) -> list[str]:
    before, after = pins(old), pins(new)
    lines = []
    for project in sorted(before.keys() | after.keys()):
        if before.get(project) != after.get(project):
            was, now = before.get(project, "(new)"), after.get(project, "(gone)")
            lines.append(f"{name}: {project} {was} -> {now}")
    if not lines and old != new:
        lines.append(f"{name}: same versions, other files or hashes")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftbook.provision.refresh_locks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uv", required=True, help="the uv executable to compile with")
    parser.add_argument("--check", action="store_true", help="report what would change; write nothing")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="compile only this lock (e.g. env-tsan-numpy); the others stay as they are")
    args = parser.parse_args(argv)
    known = {lock.name for lock in all_locks()}
    if set(args.only or ()) - known:
        parser.error(f"--only: no lock named {', '.join(sorted(set(args.only) - known))} "
                     f"(the locks: {', '.join(sorted(known))})")
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731 - stdout is the report

    REQUIREMENTS.mkdir(exist_ok=True)
    # requirements/ has one writer at a time; each lock is replaced whole.
    owner = folder_lock(REQUIREMENTS, log)
    with owner, tempfile.TemporaryDirectory(prefix="lock-", dir=REQUIREMENTS) as work:
        compiled: dict[str, Path] = {}
        kept: dict[str, Path] = {}
        try:
            for lock in all_locks():
                if args.only and lock.name not in args.only:
                    kept[lock.name] = REQUIREMENTS / f"{lock.name}.txt"  # constrains the others as it is
                    continue
                log(f"==> compiling {lock.name} (Python {lock.python})")
                compiled[lock.name] = Path(work) / f"{lock.name}.txt"
                compile_lock(args.uv, lock, compiled[lock.name], {**kept, **compiled})
            if "book" in compiled:  # the sdists follow the book's NumPy
                current = pins(compiled["book"].read_text())["numpy"]
                compiled[SDIST_LOCK] = Path(work) / f"{SDIST_LOCK}.txt"
                compiled[SDIST_LOCK].write_text(sdist_lock_text(current))
        except (ProvisionError, subprocess.TimeoutExpired) as error:
            print(f"error: {error}\nNo lock was changed.", file=sys.stderr)
            return 1
        report: list[str] = []
        for name, new in compiled.items():
            target = REQUIREMENTS / f"{name}.txt"
            old = target.read_text() if target.exists() else ""
            report += changes(name, old, new.read_text())
            if not args.check:
                os.replace(new, target)
    print("\n".join(report) if report else "no lock changed")
    return 1 if args.check and report else 0


if __name__ == "__main__":
    sys.exit(main())
