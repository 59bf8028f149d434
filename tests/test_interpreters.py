"""Provisioning: resolution order, overrides, and every way a build can fail.

Nothing here builds a real CPython. Candidates are small shell scripts that
answer the probe the way an interpreter would; the "source tarball" is a tiny
project whose ``configure``/``make``/``make install`` install a wrapper
around the interpreter running these tests. That exercises the real
download, hash check, unpack, staged install and locking code in seconds.
"""

import dataclasses
import hashlib
import io
import json
import os
import sys
import sysconfig
import tarfile
import threading
from pathlib import Path

import pytest

from ftbook import ProvisionError
from ftbook.provision import interpreters
from ftbook.provision.interpreters import INTERPRETERS, apt_archive_bases, find_or_build, installed_python


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Empty cache, no override variables, a PATH with only the basics."""
    monkeypatch.setenv("FTBOOK_CACHE", str(tmp_path / "cache"))
    for spec in INTERPRETERS.values():
        monkeypatch.delenv(spec.env_var, raising=False)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return bin_dir


def fake_python(path: Path, *, version=(3, 14, 7), free_threaded=True, tsan=False, missing=()) -> Path:
    """A script that answers the provisioning probe like such an interpreter would."""
    answer = json.dumps({"executable": str(path), "version": list(version),
                         "gil_disabled_build": free_threaded, "tsan": tsan, "missing_modules": list(missing)})
    path.write_text(f"#!/bin/sh\necho '{answer}'\n")
    path.chmod(0o755)
    return path


def fake_source_tarball(tmp_path: Path, version: str) -> tuple[Path, str]:
    """A 'CPython source' whose install puts a wrapper of this interpreter at bin/python<series>t."""
    series = ".".join(version.split(".")[:2])
    files = {
        "configure": (
            "#!/bin/sh\n"
            'echo configured >> "$FAKE_BUILD_COUNTER" || exit 2\n'
            'prefix="${1#--prefix=}"\n'
            "{\n"
            "  printf 'all:\\n\\ttrue\\n'\n"
            "  printf 'install:\\n\\tmkdir -p $(DESTDIR)%s/bin\\n' \"$prefix\"\n"
            f"  printf '\\tcp fake-python $(DESTDIR)%s/bin/python{series}t\\n' \"$prefix\"\n"
            "} > Makefile\n"
        ),
        "fake-python": f'#!/bin/sh\nexec {sys.executable} "$@"\n',
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as archive:
        for name, text in files.items():
            info = tarfile.TarInfo(f"Python-{version}/{name}")
            info.mode = 0o755
            info.size = len(text.encode())
            archive.addfile(info, io.BytesIO(text.encode()))
    tarball = tmp_path / f"served-Python-{version}.tar.xz"
    tarball.write_bytes(buffer.getvalue())
    return tarball, hashlib.sha256(buffer.getvalue()).hexdigest()


@pytest.fixture
def fake_spec(tmp_path, monkeypatch):
    """Make '3.14t' build from a fake tarball; return (spec, url, counter file)."""
    # The wrapper the fake build installs runs *this* interpreter, which must
    # pass the free-threading check; `nox -s tests` always runs on 3.14t.
    assert sysconfig.get_config_var("Py_GIL_DISABLED") == 1, "run the tests with nox -s tests"
    tarball, digest = fake_source_tarball(tmp_path, "3.14.99")
    spec = dataclasses.replace(INTERPRETERS["3.14t"], version="3.14.99", sha256=digest, path_names=())
    monkeypatch.setitem(INTERPRETERS, "3.14t", spec)
    counter = tmp_path / "builds"
    monkeypatch.setenv("FAKE_BUILD_COUNTER", str(counter))
    return spec, tarball.as_uri(), counter


# --- resolution order ---------------------------------------------------------


def test_environment_variable_wins_over_path(isolated, tmp_path, monkeypatch):
    fake_python(isolated / "python3.14t")
    chosen = fake_python(tmp_path / "my-python")
    monkeypatch.setenv("FTBOOK_PYTHON_314T", str(chosen))
    assert find_or_build("3.14t") == chosen


def test_wrong_environment_variable_is_an_error_not_skipped(isolated, tmp_path, monkeypatch):
    # A free-threaded python3.14t is on PATH, but the user explicitly chose
    # another one: silently using PATH instead would hide their mistake.
    fake_python(isolated / "python3.14t")
    monkeypatch.setenv("FTBOOK_PYTHON_314T", str(fake_python(tmp_path / "gil-python", free_threaded=False)))
    with pytest.raises(ProvisionError, match=r"\$FTBOOK_PYTHON_314T is set to .* not a free-threaded build"):
        find_or_build("3.14t")


def test_interpreter_without_ssl_is_rejected_with_the_package_to_install(isolated, tmp_path, monkeypatch):
    # Built without OpenSSL's headers, CPython has no ssl module, and pip
    # could not reach PyPI later: say so now, naming the package.
    monkeypatch.setenv("FTBOOK_PYTHON_314T", str(fake_python(tmp_path / "no-ssl", missing=["ssl"])))
    with pytest.raises(ProvisionError, match=r"lacks the standard-library module\(s\) ssl.*libssl-dev"):
        find_or_build("3.14t")


def test_missing_environment_variable_target(monkeypatch):
    monkeypatch.setenv("FTBOOK_PYTHON_313T", "/nowhere/python3.13t")
    with pytest.raises(ProvisionError, match="could not be run"):
        find_or_build("3.13t")


def test_path_interpreter_used_when_it_qualifies(isolated):
    on_path = fake_python(isolated / "python3.13t", version=(3, 13, 5))
    assert find_or_build("3.13t") == on_path


def test_path_interpreter_of_wrong_series_is_skipped(isolated, fake_spec, monkeypatch):
    # A python3.14t on PATH that is really 3.13 is skipped (and the reason
    # reported in the build's "why" line); the project builds its own.
    spec, url, _ = fake_spec
    spec = dataclasses.replace(spec, path_names=("python3.14t",))
    monkeypatch.setitem(INTERPRETERS, "3.14t", spec)
    fake_python(isolated / "python3.14t", version=(3, 13, 5))
    logged = []
    assert find_or_build("3.14t", log=logged.append, sources=[url]) == installed_python(spec)
    assert any("it is Python 3.13, not 3.14" in line for line in logged)


def test_uv_managed_interpreter_is_used(isolated, tmp_path):
    managed = fake_python(tmp_path / "uv-python3.14t")
    uv = isolated / "uv"
    uv.write_text(f'#!/bin/sh\n[ "$2" = find ] && echo {managed} && exit 0\nexit 1\n')
    uv.chmod(0o755)
    assert find_or_build("3.14t") == managed


def test_tsan_requires_thread_sanitizer_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("FTBOOK_PYTHON_314T_TSAN", str(fake_python(tmp_path / "plain")))
    with pytest.raises(ProvisionError, match="not configured --with-thread-sanitizer"):
        find_or_build("3.14t-tsan")
    monkeypatch.setenv("FTBOOK_PYTHON_314T_TSAN", str(fake_python(tmp_path / "tsan", tsan=True)))
    assert find_or_build("3.14t-tsan") == tmp_path / "tsan"


def test_unknown_key():
    with pytest.raises(ProvisionError, match="unknown interpreter '3.99t'"):
        find_or_build("3.99t")


# --- building from source -----------------------------------------------------


def test_build_installs_checks_and_is_reused(fake_spec):
    spec, url, counter = fake_spec
    logged = []
    python = find_or_build("3.14t", log=logged.append, sources=[url])
    assert python == installed_python(spec) and python.exists()
    assert (python.parent.parent / interpreters.COMPLETE_MARKER).exists()
    assert any(line.startswith("==> building CPython 3.14.99") for line in logged)
    assert any(line.startswith("==> built CPython 3.14.99") for line in logged)
    # Second call: found in the cache, nothing rebuilt, nothing downloaded.
    assert find_or_build("3.14t", log=logged.append, sources=["file:///nowhere"]) == python
    assert counter.read_text().count("configured") == 1


def test_hash_mismatch_is_rejected_and_leaves_nothing(fake_spec, monkeypatch):
    spec, url, _ = fake_spec
    monkeypatch.setitem(INTERPRETERS, "3.14t", dataclasses.replace(spec, sha256="0" * 64))
    with pytest.raises(ProvisionError) as raised:
        find_or_build("3.14t", sources=[url])
    message = str(raised.value)
    assert "does not match the pinned " + "0" * 64 in message
    assert "$FTBOOK_PYTHON_314T" in message  # says what to set instead
    assert not installed_python(spec).parent.parent.exists()
    assert list(Path(os.environ["FTBOOK_CACHE"], "downloads").iterdir()) == []


def test_corrupt_cached_tarball_is_replaced(fake_spec):
    spec, url, _ = fake_spec
    downloads = Path(os.environ["FTBOOK_CACHE"], "downloads")
    downloads.mkdir(parents=True)
    (downloads / f"Python-{spec.version}.tar.xz").write_bytes(b"truncated download")
    logged = []
    assert find_or_build("3.14t", log=logged.append, sources=[url]).exists()
    assert any("is corrupt" in line for line in logged)


def test_no_source_reachable(fake_spec):
    spec, _, _ = fake_spec
    with pytest.raises(ProvisionError) as raised:
        find_or_build("3.14t", sources=["file:///nowhere/a.tar.xz", "http://127.0.0.1:9/b.tar.xz"])
    message = str(raised.value)
    assert "file:///nowhere/a.tar.xz" in message and "http://127.0.0.1:9/b.tar.xz" in message
    assert "set $FTBOOK_PYTHON_314T" in message
    assert not installed_python(spec).parent.parent.exists()


def test_failed_build_reports_log_and_installs_nothing(fake_spec, tmp_path, monkeypatch):
    spec, url, _ = fake_spec
    broken = tmp_path / "no-such-dir" / "counter"  # configure's `>>` fails, so configure fails
    monkeypatch.setenv("FAKE_BUILD_COUNTER", str(broken))
    with pytest.raises(ProvisionError, match=r"`./configure .*` failed \(2\)[\s\S]*Nothing was installed"):
        find_or_build("3.14t", sources=[url])
    assert not installed_python(spec).parent.parent.exists()
    # ...and the next run, with the cause fixed, recovers.
    monkeypatch.setenv("FAKE_BUILD_COUNTER", str(tmp_path / "counter"))
    assert find_or_build("3.14t", sources=[url]).exists()


def test_half_installed_prefix_is_rebuilt(fake_spec):
    spec, url, counter = fake_spec
    prefix = installed_python(spec).parent.parent
    (prefix / "bin").mkdir(parents=True)  # as if killed before the marker was written
    assert find_or_build("3.14t", sources=[url]).exists()
    assert counter.read_text().count("configured") == 1


def test_concurrent_sessions_build_once(fake_spec):
    spec, url, counter = fake_spec
    results, errors = [], []

    def session():
        try:
            results.append(find_or_build("3.14t", log=lambda _: None, sources=[url]))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=session) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert len(set(results)) == 1 and len(results) == 3
    assert counter.read_text().count("configured") == 1


# --- where the Debian archive is ----------------------------------------------


def test_apt_archive_bases_reads_both_formats(tmp_path):
    etc = tmp_path / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    (etc / "sources.list").write_text(
        "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n"
        "deb-src http://mirror.example/debian bookworm main\n"
    )
    (etc / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://deb.example/debian\nSuites: trixie\nComponents: main\n\n"
        "Types: deb\nURIs: http://off.example/debian\nSuites: x\nEnabled: no\n"
    )
    (etc / "sources.list.d" / "vendor.list.disabled").write_text("deb http://ignored.example/ x main\n")
    assert apt_archive_bases(etc) == ["http://mirror.example/debian", "http://deb.example/debian"]


def test_source_urls_try_python_org_first():
    urls = INTERPRETERS["3.13t"].source_urls(["http://deb.example/debian/"])
    assert urls == [
        "https://www.python.org/ftp/python/3.13.5/Python-3.13.5.tar.xz",
        "http://deb.example/debian/pool/main/p/python3.13/python3.13_3.13.5.orig.tar.xz",
    ]


def counting_python(path: Path, calls: Path, *, version=(3, 14, 7)) -> Path:
    """A fake interpreter that appends a line to *calls* each time it is started, slowly (as TSAN's does)."""
    answer = json.dumps({"executable": str(path), "version": list(version), "gil_disabled_build": True,
                         "tsan": False, "missing_modules": []})
    path.write_text(f"#!/bin/sh\necho started >> '{calls}'\nsleep 0.3\necho '{answer}'\n")
    path.chmod(0o755)
    return path


def test_threads_probing_one_interpreter_at_once_start_it_once(tmp_path):
    """Race guarded: provisioning's chains probe the same interpreter side by side; the memo has one owner."""
    calls = tmp_path / "calls"
    python = counting_python(tmp_path / "python3.14t", calls)
    barrier = threading.Barrier(8)
    answers = []

    def ask():
        barrier.wait()
        answers.append(interpreters.probe(python))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == 8 and all(answer["version"] == [3, 14, 7] for answer in answers)
    assert calls.read_text().count("started") == 1
    answers[0]["version"] = "changed by a caller"  # each caller gets its own copy
    assert interpreters.probe(python)["version"] == [3, 14, 7]


def test_a_rewritten_interpreter_is_probed_again(tmp_path):
    calls = tmp_path / "calls"
    python = counting_python(tmp_path / "python3.14t", calls)
    assert interpreters.probe(python)["version"] == [3, 14, 7]
    counting_python(tmp_path / "python3.14t", calls, version=(3, 13, 9))
    assert interpreters.probe(python)["version"] == [3, 13, 9]
    assert calls.read_text().count("started") == 2


def test_a_failed_probe_is_not_remembered(tmp_path):
    """An interpreter that could not answer (not yet installed, a library missing) may answer next time."""
    broken = tmp_path / "broken"
    broken.touch()
    answer = json.dumps({"executable": "x", "version": [3, 14, 7], "gil_disabled_build": True,
                         "tsan": False, "missing_modules": []})
    python = tmp_path / "python3.14t"
    python.write_text(f"#!/bin/sh\n[ -e '{broken}' ] && exit 3\necho '{answer}'\n")
    python.chmod(0o755)
    with pytest.raises(ProvisionError, match="status 3"):
        interpreters.probe(python)
    broken.unlink()  # the interpreter's file is unchanged: only a remembered failure could fail again
    assert interpreters.probe(python)["version"] == [3, 14, 7]
