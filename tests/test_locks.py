"""requirements/: every environment installs from a hashed lock, exactly.

What these guard: a lock that no longer says what pyproject.toml or a book
environment asks for (someone edited a group and did not run ./nox -s lock);
a pin without a hash; two locks disagreeing on "today's NumPy"; and, with
real pip and a local index, that a newer release changes nothing and a file
with another hash is refused.
"""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from ftbook import ProvisionError
from ftbook.provision.envs import BOOK_ENVS, book_env_dir, ensure_venv
from ftbook.provision.interpreters import find_or_build
from ftbook.provision.locks import REQUIREMENTS, ROOT, SESSION_LOCKS, lock_path, pinned_version, pins
from ftbook.provision.refresh_locks import all_locks, changes
from ftbook.provision.sources import CURRENT_NUMPY, NUMPY_SDISTS, sdist_releases


def group_requirements(group: str) -> list[str]:
    """A dependency group of pyproject.toml with its include-group entries expanded (PEP 735)."""
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    found = []
    for entry in groups[group]:
        found += group_requirements(entry["include-group"]) if isinstance(entry, dict) else [entry]
    return found


@pytest.mark.parametrize("lock", all_locks(), ids=lambda lock: lock.name)
def test_lock_pins_what_it_is_compiled_from(lock):
    # A requirement added to a group (or a book environment) without
    # refreshing the lock would be silently missing from the environment.
    pinned = pins(lock.path.read_text())
    wanted = group_requirements(lock.group) if lock.group else list(lock.requirements)
    assert wanted, f"{lock.name} is compiled from nothing"
    for text in wanted:
        requirement = Requirement(text)
        name = requirement.name.lower().replace("_", "-")
        assert name in pinned, f"{lock.path.name} has no {name}: run ./nox -s lock"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock.path.name} pins {name}=={pinned[name]}, outside {text!r}: run ./nox -s lock")


@pytest.mark.parametrize("path", sorted(REQUIREMENTS.glob("*.txt")), ids=lambda path: path.name)
def test_every_pin_has_a_hash(path):
    # pip --require-hashes refuses a lock with an unhashed pin; say which one here.
    blocks = path.read_text().split("\n")
    for index, line in enumerate(blocks):
        if "==" in line and not line.startswith((" ", "#")):
            block = line + "".join(blocks[index + 1:index + 2])
            assert "--hash=sha256:" in block, f"{path.name}: {line.strip()} has no hash"


def test_no_stray_lock_files():
    # Every file in requirements/ is refreshed by ./nox -s lock, or it would go stale unseen.
    expected = {lock.path.name for lock in all_locks()} | {"numpy-sdists.txt"}
    assert {path.name for path in REQUIREMENTS.glob("*.txt")} == expected


def test_todays_numpy_comes_from_one_lock():
    # The family chapter asserts its kernel's NumPy is CURRENT_NUMPY; the TSAN
    # environment and `nox -s examples` must run that same release.
    assert pinned_version("book", "numpy") == CURRENT_NUMPY
    assert pinned_version("examples", "numpy") == CURRENT_NUMPY
    assert pinned_version("env-tsan", "numpy") == CURRENT_NUMPY
    assert CURRENT_NUMPY in NUMPY_SDISTS and set(sdist_releases()) == set(NUMPY_SDISTS)


def test_book_environment_folder_follows_its_lock():
    # Two clones with different locks must not rebuild one shared folder under each other.
    name = "numpy-2.2.2"
    folder = book_env_dir(name).name
    assert folder.startswith(f"{name}-") and folder != book_env_dir("numpy-2.2.3").name


def test_session_locks_cover_the_sessions():
    assert {lock.name for lock in SESSION_LOCKS} >= {"nox", "uv", "book", "examples", "lint"}
    assert all(lock_path(env.lock.name).is_file() for env in BOOK_ENVS.values() if env.lock)


def test_refresh_reports_each_changed_pin():
    old = "numpy==2.5.5 \\\n    --hash=sha256:aa\nsphinx==9.2.0 \\\n    --hash=sha256:bb\n"
    new = "numpy==2.6.0 \\\n    --hash=sha256:cc\nsphinx==9.2.0 \\\n    --hash=sha256:bb\nrich==14.0 \\\n"
    assert changes("book", old, new) == ["book: numpy 2.5.5 -> 2.6.0", "book: rich (new) -> 14.0"]
    assert changes("book", old, old) == []


# --- real pip against a local index -------------------------------------------------


def tiny_wheel(folder: Path, version: str) -> Path:
    """A pure-Python wheel of the project 'ftbook-probe', made by hand (no build tool)."""
    name = f"ftbook_probe-{version}"
    files = {
        "ftbook_probe.py": f"VERSION = {version!r}\n",
        f"{name}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: ftbook-probe\nVersion: {version}\n",
        f"{name}.dist-info/WHEEL": ("Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
                                    "Tag: py3-none-any\n"),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{name}.dist-info/RECORD"] = "\n".join([*record, f"{name}.dist-info/RECORD,,"]) + "\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    wheel = folder / f"{name}-py3-none-any.whl"
    wheel.write_bytes(buffer.getvalue())
    return wheel


@pytest.fixture
def local_index(tmp_path, monkeypatch, base_python):  # base_python first: found before the cache moves
    """A folder of wheels as pip's only source: version 1.0, and a newer 2.0 'released upstream'."""
    index = tmp_path / "index"
    index.mkdir()
    old, _ = tiny_wheel(index, "1.0"), tiny_wheel(index, "2.0")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    monkeypatch.setenv("FTBOOK_CACHE", str(tmp_path / "cache"))
    return hashlib.sha256(old.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def base_python() -> Path:
    """The 3.14t this test session runs on (its own venv has no pip to lend), from the real cache."""
    return find_or_build("3.14t", log=lambda _: None)


def probe_version(python: Path) -> str:
    return subprocess.run([python, "-c", "import ftbook_probe; print(ftbook_probe.VERSION)"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def test_a_newer_release_changes_nothing(local_index, base_python, tmp_path):
    # The lock pins 1.0; 2.0 is there too. The environment gets 1.0.
    lock = tmp_path / "probe.txt"
    lock.write_text(f"ftbook-probe==1.0 --hash=sha256:{local_index}\n")
    python = ensure_venv(tmp_path / "venv", base_python, lock, log=lambda _: None)
    assert probe_version(python) == "1.0"


def test_a_file_with_another_hash_is_refused(local_index, base_python, tmp_path):
    # The same name and version, but not the file that was locked: pip refuses it, and the
    # message says what failed and where the full log is.
    lock = tmp_path / "probe.txt"
    lock.write_text(f"ftbook-probe==1.0 --hash=sha256:{'0' * 64}\n")
    with pytest.raises(ProvisionError, match=r"(?s)installing probe.txt .* failed.*HASHES.*Full log: "):
        ensure_venv(tmp_path / "venv", base_python, lock, log=lambda _: None)


def test_the_tsan_interpreters_stdlib_is_compiled_once_by_the_plain_one(tmp_path):
    """PYTHONDONTWRITEBYTECODE keeps an interpreter from caching what it compiles: the book does it, once."""
    import sys

    from ftbook.provision.envs import STDLIB_COMPILED, byte_compile_stdlib

    python = tmp_path / "bin" / "python3.14t"  # a prefix laid out as `make install` lays it out
    stdlib = tmp_path / "lib" / "python3.14t"
    stdlib.mkdir(parents=True)
    (stdlib / "inspect.py").write_text("x = 1\n")
    said = []
    byte_compile_stdlib(python, Path(sys.executable), log=said.append)
    assert [path.name.split(".")[0] for path in (stdlib / "__pycache__").iterdir()] == ["inspect"]
    assert (tmp_path / STDLIB_COMPILED).is_file() and len(said) == 1
    byte_compile_stdlib(python, Path(sys.executable), log=said.append)
    assert len(said) == 1  # once per interpreter
    (stdlib / "broken.py").write_text("def (:\n")
    (tmp_path / STDLIB_COMPILED).unlink()
    with pytest.raises(ProvisionError, match="byte-compiling .* failed"):
        byte_compile_stdlib(python, Path(sys.executable), log=said.append)
    assert not (tmp_path / STDLIB_COMPILED).exists()


def test_three_chains_asking_for_the_stdlib_at_once_compile_it_once(tmp_path, monkeypatch):
    """A first build starts three TSAN environments at once; the lock makes one of them compile it."""
    import sys
    import threading

    from ftbook.provision.envs import STDLIB_COMPILED, byte_compile_stdlib

    monkeypatch.setenv("FTBOOK_CACHE", str(tmp_path / "cache"))
    prefix = tmp_path / "cpython"
    (prefix / "lib" / "python3.14t").mkdir(parents=True)
    (prefix / "lib" / "python3.14t" / "inspect.py").write_text("x = 1\n")
    runs = tmp_path / "compiler-runs"
    compiler = tmp_path / "compiler"  # slow enough that the three calls overlap
    compiler.write_text(f'#!/bin/sh\necho run >> "{runs}"\nsleep 1\nexec {sys.executable} "$@"\n')
    compiler.chmod(0o755)
    start = threading.Barrier(3)

    def chain():
        start.wait()
        byte_compile_stdlib(prefix / "bin" / "python3.14t", compiler, log=lambda _: None)

    threads = [threading.Thread(target=chain) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert runs.read_text().splitlines() == ["run"] and (prefix / STDLIB_COMPILED).is_file()
