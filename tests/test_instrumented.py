"""ftbook.provision.instrumented: NumPy built with ThreadSanitizer, stepped from release to release.

The real build takes minutes (the docs build and the root-cause claims do it);
these tests check what decides whether its result can be trusted, on small
fake sdists: a step leaves the tree equal to the next sdist with the changed
files stamped new (ninja rebuilds by time stamps), a difference is named, and
two threads asking for one release build it once, under the series' lock.
"""

import os
import threading
import time

import pytest

from ftbook.provision import instrumented


def make_sdist(root, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


OLD = {"numpy/a.c": "same\n", "numpy/b.c": "old\n", "numpy/gone.c": "removed in the next release\n"}
NEW = {"numpy/a.c": "same\n", "numpy/b.c": "new\n", "numpy/added.c": "new in the next release\n"}


def test_a_step_makes_the_tree_the_next_sdist_and_stamps_only_what_changed(tmp_path):
    old, new = make_sdist(tmp_path / "old", OLD), make_sdist(tmp_path / "new", NEW)
    tree = make_sdist(tmp_path / "tree", OLD)
    long_ago = time.time() - 86400
    for path in tree.rglob("*.c"):
        os.utime(path, (long_ago, long_ago))  # as if compiled long ago
    assert instrumented.tree_differences(tree, new) == ["numpy/added.c", "numpy/gone.c", "numpy/b.c"]
    assert instrumented.step_tree(tree, new) == 3  # b changed, added added, gone removed
    assert instrumented.tree_differences(tree, new) == []
    assert (tree / "numpy/b.c").stat().st_mtime > long_ago + 3600  # ninja will see it changed
    assert (tree / "numpy/a.c").stat().st_mtime == pytest.approx(long_ago)  # and will not rebuild this
    assert instrumented.tree_differences(tree, old) != []


def test_two_threads_asking_for_one_release_build_it_once_then_the_next_is_a_step(tmp_path, monkeypatch):
    monkeypatch.setenv("FTBOOK_CACHE", str(tmp_path / "cache"))
    sdists = {"2.2.2": make_sdist(tmp_path / "numpy-2.2.2", OLD),
              "2.2.3": make_sdist(tmp_path / "numpy-2.2.3", NEW)}
    monkeypatch.setattr(instrumented, "numpy_sdist", lambda version, log: sdists[version])
    monkeypatch.setattr(instrumented, "_build_tools", lambda log: tmp_path / "tools-python")
    builds = []

    def fake_build(tools, tree, build, version):
        assert instrumented.tree_differences(tree, sdists[version]) == []
        builds.append(version)
        time.sleep(0.5)  # long enough for the other thread to be waiting on the series' lock
        final = instrumented.wheel_dir(version)
        final.mkdir(parents=True)
        (final / f"numpy-{version}-fake.whl").write_text("")
        (final / instrumented.DONE).write_text(f"numpy-{version}-fake.whl\n")
        return final / f"numpy-{version}-fake.whl"

    monkeypatch.setattr(instrumented, "_build", fake_build)
    said, got = [], []

    def ask():
        got.append(instrumented.instrumented_wheel("2.2.2", log=said.append))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert builds == ["2.2.2"] and len(got) == 2 and got[0] == got[1], (builds, got)
    assert any("in full" in line for line in said), said

    instrumented.instrumented_wheel("2.2.3", log=said.append)
    assert builds == ["2.2.2", "2.2.3"]
    assert any("stepping from 2.2.2, 3 files differ" in line for line in said), said
    assert instrumented.built_wheel("2.2.3").name == "numpy-2.2.3-fake.whl"


def test_a_release_without_a_pinned_sdist_is_one_clear_message():
    with pytest.raises(instrumented.ProvisionError, match="no pinned sdist"):
        instrumented.instrumented_wheel("1.0.0")


# A patch in the form patches/numpy-<release>/ holds: b.c of the NEW fake sdist, changed by one line.
FIX_B = """\
--- a/numpy/b.c
+++ b/numpy/b.c
@@ -1 +1 @@
-new
+fixed
"""


def fake_patches(root, text=FIX_B):
    folder = root / "numpy-2.2.3"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "0001-fix-b.patch").write_text(text)
    return root


def test_a_patched_release_is_a_step_keyed_by_its_patches(tmp_path, monkeypatch):
    """The patched source is its own folder; its build steps from the release's, recompiling what changed."""
    monkeypatch.setenv("FTBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(instrumented, "PATCHES", fake_patches(tmp_path / "patches"))
    sdist = make_sdist(tmp_path / "cache" / "sources" / "numpy-2.2.3", NEW)
    monkeypatch.setattr(instrumented, "numpy_sdist", lambda version, log: {"2.2.3": sdist}[version])
    monkeypatch.setattr(instrumented, "_build_tools", lambda log: tmp_path / "tools-python")
    built = {}

    def fake_build(tools, tree, build, version):
        built[version] = (tree / "numpy/b.c").read_text()
        final = instrumented.wheel_dir(version)
        final.mkdir(parents=True)
        (final / "numpy-2.2.3-fake.whl").write_text("")
        (final / instrumented.DONE).write_text("numpy-2.2.3-fake.whl\n")
        return final / "numpy-2.2.3-fake.whl"

    monkeypatch.setattr(instrumented, "_build", fake_build)
    said = []
    instrumented.instrumented_wheel("2.2.3", log=said.append)
    instrumented.instrumented_wheel("2.2.3-patched", log=said.append)
    assert built == {"2.2.3": "new\n", "2.2.3-patched": "fixed\n"}
    assert any("stepping from 2.2.3, 1 files differ" in line for line in said), said
    assert (sdist / "numpy/b.c").read_text() == "new\n"  # the release's own sources are left alone
    assert instrumented.series_of("2.2.3-patched") == "2.2"
    key = instrumented.build_key("2.2.3-patched")
    fake_patches(tmp_path / "patches", FIX_B.replace("+fixed", "+fixed again"))
    assert instrumented.build_key("2.2.3-patched") != key  # an edited patch is a new build
    assert instrumented.build_key("2.2.3") == instrumented.build_key("2.2.3")


def test_a_patch_that_does_not_apply_is_one_message_and_leaves_nothing(tmp_path, monkeypatch):
    stale = FIX_B.replace("-new", "-other")  # written against sources that are not the release's
    monkeypatch.setattr(instrumented, "PATCHES", fake_patches(tmp_path / "patches", stale))
    sdist = make_sdist(tmp_path / "sources" / "numpy-2.2.3", NEW)
    with pytest.raises(instrumented.ProvisionError, match=r"0001-fix-b.patch does not apply to NumPy 2.2.3"):
        instrumented.patched_source("2.2.3-patched", sdist, log=lambda _: None)
    assert sorted(path.name for path in (tmp_path / "sources").iterdir()) == ["numpy-2.2.3"]


def test_the_books_patches_are_what_the_patched_release_applies():
    patches = instrumented.patches_of("2.5.5-patched")
    assert [patch.parent.name for patch in patches] == ["numpy-2.5.5"] * len(patches) and len(patches) >= 4
    assert patches == sorted(patches) and instrumented.patches_of("2.5.5") == []


def test_two_threads_asking_for_one_patched_source_apply_the_patches_once(tmp_path, monkeypatch):
    monkeypatch.setenv("FTBOOK_CACHE", str(tmp_path / "cache"))  # where the source's lock lives
    monkeypatch.setattr(instrumented, "PATCHES", fake_patches(tmp_path / "patches"))
    sdist = make_sdist(tmp_path / "sources" / "numpy-2.2.3", NEW)
    applied, run = [], instrumented.subprocess.run

    def slow_patch(command, **options):
        applied.append(command[-1])
        time.sleep(0.5)  # long enough for the other thread to be waiting on the source's lock
        return run(command, **options)

    monkeypatch.setattr(instrumented.subprocess, "run", slow_patch)
    got = []
    threads = [threading.Thread(target=lambda: got.append(instrumented.patched_source(
        "2.2.3-patched", sdist, log=lambda _: None))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(applied) == 1 and len(got) == 2 and got[0] == got[1], (applied, got)
    assert (got[0] / "numpy/b.c").read_text() == "fixed\n"
    assert sorted(path.name for path in (tmp_path / "sources").iterdir()) == ["numpy-2.2.3", got[0].name]
