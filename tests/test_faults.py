"""Faults in fetching and building, with real threads, real processes and real sockets.

Downloads come from a local HTTP server (:class:`FaultServer`) that can be
slow, cut a body off, or answer 404. A slow response stops half-way until a
second downloader shows up (a second request for the same path, or a
``==> waiting`` line from the lock), so "the two overlapped" is made
certain, not hoped for. The "CPython source" is test_interpreters' stand-in
tarball, whose install is a wrapper of the interpreter running these tests.

Functions of :mod:`ftbook.provision.cache` are looked up at call time (``cache.fetch_verified``),
so that this file also runs against older code that lacks some of them: each
test then fails on its own.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import hashlib
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

# Not a package: pytest's default "prepend" import mode puts tests/ on sys.path.
from test_interpreters import fake_source_tarball

from ftbook import ProvisionError
from ftbook.provision import cache
from ftbook.provision.interpreters import (
    COMPLETE_MARKER,
    INTERPRETERS,
    InterpreterSpec,
    find_or_build,
    installed_python,
)
from ftbook.provision.side_by_side import run_side_by_side

ROOT = Path(__file__).resolve().parents[1]
VERSION = "3.14.99"
CHUNK_PAUSE = 0.02  # seconds between the chunks of a slow response
HOLD_LIMIT = 10  # seconds a slow response waits half-way for a second downloader
WAITING = "==> waiting"  # what ftbook.provision.cache.exclusive logs when another holder has the lock


# --- the server ------------------------------------------------------------------


@dataclasses.dataclass
class Route:
    body: bytes
    slow: bool = False  # in chunks, stopping half-way until `release` is set
    cut: bool = False  # the full Content-Length, then the connection closed after half the body


class FaultServer(http.server.ThreadingHTTPServer):
    """127.0.0.1 on a free port; unknown paths are 404, ``/release`` sets :attr:`release`."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), FaultHandler)
        self.routes: dict[str, Route] = {}
        self.requests: collections.Counter[str] = collections.Counter()
        self.in_flight: collections.Counter[str] = collections.Counter()
        self.counting = threading.Lock()
        self.midway = threading.Event()  # a slow response has sent its first half...
        self.release = threading.Event()  # ...and may send the rest

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def serve(self, path: str, body: bytes, *, slow: bool = False, cut: bool = False) -> str:
        self.routes[path] = Route(body, slow, cut)
        return self.url(path)


class FaultHandler(http.server.BaseHTTPRequestHandler):
    server: FaultServer  # HTTP/1.0: one response per connection, closed after it

    def do_GET(self):
        with self.server.counting:
            self.server.requests[self.path] += 1
            self.server.in_flight[self.path] += 1
            if self.server.in_flight[self.path] > 1:
                self.server.release.set()  # two downloads of one file overlap: what a slow one waits for
        try:
            self.respond()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the downloader was killed mid-way
        finally:
            with self.server.counting:
                self.server.in_flight[self.path] -= 1

    def respond(self):
        if self.path == "/release":
            self.server.release.set()
            self.send_response(204)
            self.end_headers()
            return
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        half = len(route.body) // 2
        if route.cut:
            self.wfile.write(route.body[:half])
        elif route.slow:
            self.trickle(route.body[:half])
            self.server.midway.set()
            self.server.release.wait(HOLD_LIMIT)
            self.trickle(route.body[half:])
        else:
            self.wfile.write(route.body)

    def trickle(self, data: bytes):
        step = max(1, len(data) // 4)
        for start in range(0, len(data), step):
            self.wfile.write(data[start:start + step])
            time.sleep(CHUNK_PAUSE)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A :class:`FaultServer` serving in a thread for the test; stopped at teardown."""
    served = FaultServer()
    thread = threading.Thread(target=served.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.release.set()  # a held response finishes instead of waiting out HOLD_LIMIT
        served.shutdown()
        served.server_close()
        thread.join(10)


@pytest.fixture
def refused_url():
    """A port that is bound but not listening: connecting to it is refused at once."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}/Python-{VERSION}.tar.xz"


# --- the cache, the stand-in interpreters, the driver --------------------------


@pytest.fixture
def downloads(tmp_path, monkeypatch) -> Path:
    """A fresh, empty cache for the test; its downloads folder."""
    monkeypatch.setenv(cache.CACHE_ENV_VAR, str(tmp_path / "cache"))
    return cache.cache_dir("downloads")


@dataclasses.dataclass
class StandIns:
    plain: InterpreterSpec  # as '3.14t'
    variant: InterpreterSpec  # as '3.14t-tsan': the same tarball, other configure options
    changes: dict  # what turns INTERPRETERS['3.14t'] into `plain` (the driver applies it too)
    body: bytes  # the tarball
    path: str  # where the server serves it
    url: str
    builds: Path  # the stand-in configure writes a line here on each build


@pytest.fixture
def stand_ins(tmp_path, monkeypatch, server, downloads) -> StandIns:
    """'3.14t' and '3.14t-tsan' both build from one stand-in tarball, served (not slowly) by `server`."""
    # The wrapper the stand-in build installs runs *this* interpreter, which
    # must pass the free-threading check.
    assert sysconfig.get_config_var("Py_GIL_DISABLED") == 1, "run the tests on a free-threaded 3.14t"
    tarball, digest = fake_source_tarball(tmp_path, VERSION)
    changes = {"version": VERSION, "sha256": digest, "path_names": (), "uv_request": None}
    plain = dataclasses.replace(INTERPRETERS["3.14t"], **changes)
    variant = dataclasses.replace(plain, key="3.14t-tsan", env_var=INTERPRETERS["3.14t-tsan"].env_var,
                                  configure_args=(*plain.configure_args, "--with-fault-test-variant"))
    assert plain.install_name != variant.install_name  # two builds, two build locks, one tarball
    for spec in INTERPRETERS.values():
        monkeypatch.delenv(spec.env_var, raising=False)
    monkeypatch.setitem(INTERPRETERS, "3.14t", plain)
    monkeypatch.setitem(INTERPRETERS, "3.14t-tsan", variant)
    builds = tmp_path / "builds"
    monkeypatch.setenv("FAKE_BUILD_COUNTER", str(builds))
    path = f"/Python-{VERSION}.tar.xz"
    body = tarball.read_bytes()
    return StandIns(plain, variant, changes, body, path, server.serve(path, body), builds)


DRIVER = """\
import ast, dataclasses, sys, urllib.request
from urllib.parse import urljoin
from ftbook.provision import interpreters

command, changes, url = sys.argv[1], ast.literal_eval(sys.argv[2]), sys.argv[3]
spec = interpreters.INTERPRETERS["3.14t"] = dataclasses.replace(interpreters.INTERPRETERS["3.14t"], **changes)

def log(line):
    print(line, flush=True)
    if "==> waiting" in line:  # another process holds the lock: the held download may finish
        urllib.request.urlopen(urljoin(url, "/release"), timeout=10).close()

if command == "build":
    print(interpreters.find_or_build("3.14t", log=log, sources=[url]))
else:
    interpreters.fetch_source(spec, log=log, sources=[url])
"""


@pytest.fixture
def drive(tmp_path, stand_ins):
    """``drive("build" | "fetch_source", **env)``: the stand-in '3.14t' in a new process of its own session.

    At teardown each session is killed whole: the process and whatever it
    left running (a killed build's children go on as orphans).
    """
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    started: list[subprocess.Popen] = []

    def start(command: str, **env: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, script, command, repr(stand_ins.changes), stand_ins.url],
            env={**os.environ, "PYTHONPATH": str(ROOT), **env}, cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=10)


# --- helpers ----------------------------------------------------------------------


def at_once(calls: list[Callable[[], object]], seconds: float) -> list[object]:
    """Each call in its own thread, all released by one barrier; their results, or the first error.

    Fails the test if any call is still running after *seconds* (a lock never released).
    """
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], object]) -> None:
        barrier.wait(seconds)
        try:
            results[index] = call()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), f"still running after {seconds} s"
    if errors:
        raise errors[0]
    return results


def wait_until(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not true after {seconds} s"
        time.sleep(0.05)


def blob(size: int = 64 * 1024) -> tuple[bytes, str]:
    body = os.urandom(size)
    return body, hashlib.sha256(body).hexdigest()


def releasing(server: FaultServer, lines: list[str]) -> Callable[[str], None]:
    """A log that keeps its lines and, on a downloader waiting for the lock, lets the held download finish."""

    def log(line: str) -> None:
        lines.append(line)
        if WAITING in line:
            server.release.set()

    return log


# --- two downloaders, one file ----------------------------------------------------


def test_two_chains_of_one_process_download_their_shared_tarball_once(stand_ins, server, downloads):
    # 3.14t and 3.14t-tsan (two threads) downloaded one tarball into one .part at once: FileNotFoundError.
    server.serve(stand_ins.path, stand_ins.body, slow=True)
    barrier = threading.Barrier(2, timeout=10)
    lines: list[str] = []

    def chain(key: str):
        def run(log):
            barrier.wait()
            return find_or_build(key, log=log, sources=[stand_ins.url])
        return run

    [pythons] = at_once([lambda: run_side_by_side(
        {"3.14t": chain("3.14t"), "3.14t-tsan": chain("3.14t-tsan")}, releasing(server, lines))], 60)
    assert pythons == {"3.14t": installed_python(stand_ins.plain),
                       "3.14t-tsan": installed_python(stand_ins.variant)}
    assert server.requests[stand_ins.path] == 1  # the second waited for the lock, then used the first's file
    assert any(WAITING in line for line in lines)
    assert [p.name for p in downloads.iterdir()] == [f"Python-{VERSION}.tar.xz"]  # no *.part left


def test_threads_fetching_one_file_at_once_download_it_once(server, downloads):
    # Four threads needing one file at once: one downloads, the others wait for its lock and reuse its file.
    body, digest = blob()
    url = server.serve("/file.bin", body, slow=True)
    target = downloads / "file.bin"
    lines: list[str] = []
    fetch = functools.partial(cache.fetch_verified, target, digest, [url], timeout=10,
                              log=releasing(server, lines))
    assert at_once([fetch] * 4, 30) == [target] * 4
    assert cache.sha256_of(target) == digest
    assert server.requests["/file.bin"] == 1
    assert any(WAITING in line for line in lines)
    assert list(downloads.iterdir()) == [target]


def test_two_processes_download_their_shared_tarball_once(stand_ins, server, drive, downloads):
    # Two processes needing one tarball at once both downloaded it; the second must wait and reuse it.
    server.serve(stand_ins.path, stand_ins.body, slow=True)
    processes = [drive("fetch_source"), drive("fetch_source")]
    outputs = [process.communicate(timeout=30)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert server.requests[stand_ins.path] == 1, outputs
    assert any(WAITING in output for output in outputs)
    assert cache.sha256_of(downloads / f"Python-{VERSION}.tar.xz") == stand_ins.plain.sha256


# --- broken downloads --------------------------------------------------------------


def test_download_cut_off_half_way_falls_back_to_the_next_url(server, downloads):
    # A connection closed before Content-Length bytes arrived: the next URL must be tried, the log say why.
    body, digest = blob()
    cut = server.serve("/cut/file.bin", body, cut=True)
    good = server.serve("/good/file.bin", body)
    lines: list[str] = []
    target = cache.fetch_verified(downloads / "file.bin", digest, [cut, good], timeout=10, log=lines.append)
    assert cache.sha256_of(target) == digest
    assert f"    could not use {cut}: cut off after {len(body) // 2} of {len(body)} bytes" in lines


def test_download_cut_off_half_way_is_an_error_that_keeps_nothing(server, downloads):
    # A cut-off download with no other URL: an error that says so, and no partial file, kept or renamed.
    body, digest = blob()
    cut = server.serve("/cut/file.bin", body, cut=True)
    with pytest.raises(cache.FetchFailed) as failed:
        cache.fetch_verified(downloads / "file.bin", digest, [cut], timeout=10, log=lambda _: None)
    assert str(failed.value) == f"  {cut}\n      cut off after {len(body) // 2} of {len(body)} bytes"
    assert list(downloads.iterdir()) == []


def test_corrupt_cached_file_is_downloaded_again(server, downloads):
    # A cached file with the wrong hash (a disk error, a hand edit): it must be replaced, never used.
    body, digest = blob()
    url = server.serve("/file.bin", body)
    target = downloads / "file.bin"
    # The last byte flipped: always another file (b"!" was not, when the random body ended in "!").
    target.write_bytes(body[:-1] + bytes([body[-1] ^ 0xFF]))
    lines: list[str] = []
    assert cache.fetch_verified(target, digest, [url], timeout=10, log=lines.append) == target
    assert any("is corrupt" in line for line in lines)
    assert cache.sha256_of(target) == digest
    assert server.requests["/file.bin"] == 1


def test_unreachable_sources_are_skipped_in_order(stand_ins, server, refused_url):
    # A dead first mirror (connection refused), then a 404: the next URL must still be tried.
    missing = server.url(f"/404/Python-{VERSION}.tar.xz")
    lines: list[str] = []
    python = find_or_build("3.14t", log=lines.append, sources=[refused_url, missing, stand_ins.url])
    assert python == installed_python(stand_ins.plain) and python.exists()
    failures = [line for line in lines if "could not use" in line]
    assert len(failures) == 2
    assert refused_url in failures[0] and "Connection refused" in failures[0]
    assert missing in failures[1] and "Not Found" in failures[1]


def test_no_reachable_source_names_every_url_and_the_override(stand_ins, server, refused_url):
    # Every source down: the error must list each URL tried, why it failed, and what to set instead.
    missing = server.url(f"/404/Python-{VERSION}.tar.xz")
    with pytest.raises(ProvisionError) as raised:
        find_or_build("3.14t", log=lambda _: None, sources=[refused_url, missing])
    message = str(raised.value)
    assert f"{refused_url}\n      [Errno 111] Connection refused" in message
    assert f"{missing}\n      Not Found" in message
    assert "set $FTBOOK_PYTHON_314T" in message
    assert not installed_python(stand_ins.plain).parent.parent.exists()


# --- killed half-way -----------------------------------------------------------------


def test_build_killed_during_make_install_leaves_nothing_and_the_rerun_builds(stand_ins, drive, tmp_path):
    # A build SIGKILLed (OOM killer, kill -9) after `make install`: nothing half-made used, lock freed.
    installed = tmp_path / "installed"
    slow = tmp_path / "slow-make"
    slow.mkdir()
    (slow / "make").write_text(  # on PATH for the killed run only: `make install`, then a long sleep
        f'#!/bin/sh\n{shutil.which("make")} "$@" || exit\n'
        f'[ "$1" = install ] && touch {installed} && exec sleep 30\nexit 0\n')
    (slow / "make").chmod(0o755)
    killed = drive("build", PATH=f"{slow}:{os.environ['PATH']}")
    wait_until(installed.exists, 30)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(10)
    prefix = installed_python(stand_ins.plain).parent.parent
    assert not prefix.exists()  # never into place...
    (abandoned,) = cache.cache_dir("tmp").iterdir()
    assert list(abandoned.rglob("stage/**/bin/python3.14t"))  # ...only into the staging folder
    # The killed build's step goes on, an orphan in a process group of its own: the
    # lock must not wait for it, and the next build must stop it and delete its folder.
    orphans = subprocess.run(["pgrep", "-f", "exec sleep 30|^sleep 30$"], capture_output=True, text=True)
    assert orphans.stdout.split(), "the killed build's make step should still be running"
    rerun = drive("build")
    output = rerun.communicate(timeout=25)[0]
    assert rerun.returncode == 0, output
    assert "removed an abandoned build" in output and "stopped 1 process group" in output
    assert not abandoned.exists()
    for pid in orphans.stdout.split():
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    python = Path(output.splitlines()[-1])
    assert python == installed_python(stand_ins.plain) and (prefix / COMPLETE_MARKER).exists()
    assert stand_ins.builds.read_text().count("configured") == 2  # built again, nothing reused
    works = subprocess.run([python, "-c", "import sys; print(sys._is_gil_enabled())"],
                           capture_output=True, text=True, timeout=30)
    assert works.stdout == "False\n", works.stderr


def test_download_killed_mid_way_leaves_no_target_and_the_rerun_fetches(stand_ins, server, drive, downloads):
    # A download SIGKILLed half-way: its partial must never become the tarball, and its lock must be freed.
    server.serve(stand_ins.path, stand_ins.body, slow=True)
    killed = drive("fetch_source")
    assert server.midway.wait(30)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(10)
    target = downloads / f"Python-{VERSION}.tar.xz"
    assert not target.exists()
    # The killed process's partial (.Python-3.14.99.tar.xz.XXXXXXXX.part) is left behind...
    (abandoned,) = set(downloads.iterdir())
    assert abandoned.name.endswith(".part")
    server.release.set()
    rerun = drive("fetch_source")
    output = rerun.communicate(timeout=25)[0]
    assert rerun.returncode == 0, output
    assert cache.sha256_of(target) == stand_ins.plain.sha256
    assert server.requests[stand_ins.path] == 2
    # ...and deleted by the next holder of the file's lock, never used: only the tarball remains.
    assert set(downloads.iterdir()) == {target}


# --- files rewritten in place, and folders with one owner ----------------------------------


def test_a_rewritten_file_is_never_seen_half_written(tmp_path):
    # Generated pages and stamps are rewritten while another process may read them:
    # a reader must see one writer's whole text, never a mix or an empty file.
    target = tmp_path / "page.md"
    texts = [f"{n}" * 100_000 for n in range(4)]
    cache.atomic_write_text(target, texts[0])
    stop = threading.Event()
    seen = set()

    def read():
        while not stop.is_set():
            seen.add(target.read_text())

    def write(text):
        for _ in range(20):
            cache.atomic_write_text(target, text)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        at_once([functools.partial(write, text) for text in texts], 60)
    finally:
        stop.set()
        reader.join(30)
    assert seen <= set(texts) and len(seen) > 1
    assert [path.name for path in tmp_path.iterdir()] == ["page.md"]  # no partial left


def test_a_folder_lock_admits_one_holder_at_a_time(tmp_path, downloads):
    # The build folder (nox -s docs, the test suite's copy of its cache) has one owner at a time.
    inside = []
    overlap = threading.Event()

    def hold():
        with cache.folder_lock(tmp_path / "_build", log=lambda _: None):
            inside.append(1)
            if len(inside) > 1:
                overlap.set()
            time.sleep(0.2)
            inside.pop()

    at_once([hold, hold, hold], 30)
    assert not overlap.is_set()
