"""patches/: the book's proposed changes to a NumPy release apply to that release's sdist as they stand.

Each patch must apply on its own (or after the patches its "Applies after:" line names, as a pull
request can build on another) and all of them in order, with ``patch -p1`` and no fuzz (a hunk that
only applies with fuzz was written against other code), and say which remedy it uses.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ftbook.provision.instrumented import PATCH_COMMAND, PATCHED, PATCHES, patches_of
from ftbook.provision.sources import SOURCES, numpy_sdist

RELEASES = sorted(folder.name.removeprefix("numpy-") for folder in PATCHES.glob("numpy-*"))
REMEDIES = ("copy, then modify", "compute locally, validate, store once",
            "delete a write that stores what is already there", "atomics")


def patches(release):
    return patches_of(f"{release}{PATCHED}")  # what the build applies, in its order


def apply(patch: Path, tree: Path, *extra: str) -> subprocess.CompletedProcess:
    if shutil.which("patch") is None:
        pytest.fail("these tests need the patch program (Debian/Ubuntu: apt-get install patch)")
    command = [*PATCH_COMMAND, *extra]  # exactly as the build applies them
    return subprocess.run([*command, "-i", str(patch)], cwd=tree, capture_output=True, text=True, timeout=60)


def touched(patch: Path) -> list[str]:
    """The files *patch* changes, relative to the sdist's top folder."""
    return re.findall(r"^\+\+\+ b/(\S+)", patch.read_text(), re.MULTILINE)


def applies_after(patch: Path) -> list[Path]:
    """The patches *patch* builds on, from its "Applies after: NAME, NAME." line (none without one)."""
    found = re.search(r"^Applies after: (.+?)\.(?:\s|$)", patch.read_text(), re.MULTILINE)
    return [patch.with_name(name.strip()) for name in found[1].split(",")] if found else []


def test_there_are_patches_for_a_release():
    assert RELEASES and all(patches(release) for release in RELEASES), RELEASES


@pytest.mark.needs_envs(SOURCES)
@pytest.mark.parametrize("release", RELEASES)
def test_each_patch_applies_alone_and_all_apply_in_order(release, tmp_path):
    pristine = numpy_sdist(release, log=lambda _: None)
    changed = {name for patch in patches(release) for name in touched(patch)}

    def released(folder: str) -> Path:
        """The files the patches change, as released, in a new folder under tmp_path."""
        tree = tmp_path / folder
        for name in changed:
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(pristine / name, tree / name)
        return tree

    for patch in patches(release):
        before = applies_after(patch)
        assert all(earlier in patches(release)[:patches(release).index(patch)] for earlier in before), before
        tree = released(f"{patch.stem}-alone") if before else pristine
        for earlier in before:
            assert apply(earlier, tree).returncode == 0, earlier.name
        applied = apply(patch, tree, "--dry-run")
        where = f"after {', '.join(p.name for p in before)}" if before else "on the sdist"
        assert applied.returncode == 0, f"{patch.name}, {where}:\n{applied.stdout}{applied.stderr}"
    tree = released(f"numpy-{release}")
    for patch in patches(release):
        applied = apply(patch, tree)
        assert applied.returncode == 0, f"{patch.name}, after those before:\n{applied.stdout}{applied.stderr}"
    assert not list(tree.rglob("*.rej"))


@pytest.mark.parametrize("patch", [p for release in RELEASES for p in patches(release)], ids=lambda p: p.name)
def test_each_patch_says_what_it_fixes_and_by_which_remedy(patch):
    text = patch.read_text()
    preamble, _, diff = text.partition("\n--- a/")
    assert re.match(r"BUG: \S", preamble), "the first line is a NumPy-style title: BUG: ..."
    remedy = re.search(r"^Remedy: (.+?)[.(\n]", preamble, re.MULTILINE)
    assert remedy and remedy.group(1).strip().lower() in REMEDIES, remedy
    assert diff and "\n+++ b/" in "\n--- a/" + diff, "a unified diff follows the description"
