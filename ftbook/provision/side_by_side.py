"""Provision several interpreters and their environments side by side.

A first build makes three interpreters. Each build has long stretches that
use one core (``configure``, linking, the tail of ``make install``), and
filling an environment mostly waits on the network, so on two cores running
the three chains at once finishes sooner than running them one after the
other. Each chain is a function run in its own thread; its log lines are
prefixed with its name so interleaved progress stays readable.

Two chains that need the same interpreter do not build it twice: building
takes a cross-process ``flock`` (:func:`ftbook.provision.cache.exclusive`), which also
orders threads of one process, so the second simply waits for the first.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ftbook import ProvisionError
from ftbook.provision.cache import format_seconds
from ftbook.provision.interpreters import Log

Chain = Callable[[Log], object]


def run_side_by_side(chains: Mapping[str, Chain], log: Log, *, failure_log: Path | None = None,
                     advice: bool = True) -> dict[str, object]:
    """Run every chain at once; return each one's result by name.

    Every chain runs to its end even when another fails (a build half-way
    through is not worth throwing away); then one :class:`ProvisionError`
    names every failure, in which chain, and what to do. A chain that
    raises anything else (a bug) is reported the same way, its traceback
    written to a file under *failure_log* (a path prefix) and named in the
    message: the reader sees one message, never a traceback. *advice* False
    leaves out the closing "run again" line, for chains run inside a chain.
    """
    lock = threading.Lock()  # one line at a time, never two half-lines

    def prefixed(name: str) -> Log:
        if len(chains) <= 1:  # nothing to overlap: no prefixes
            return log

        def emit(line: str) -> None:
            with lock:
                for part in line.splitlines() or [""]:
                    log(f"[{name}] {part}")

        return emit

    def guarded(name: str, chain: Chain) -> object:
        try:
            return chain(prefixed(name))
        except ProvisionError:
            raise
        except Exception as error:  # a bug: say so in one message, keep the traceback in a file
            where = _write_traceback(failure_log, name)
            raise ProvisionError(
                f"unexpected {type(error).__name__}: {error}\n"
                f"This is a bug in the project's provisioning, not in your machine; the traceback is in "
                f"{where}. Please report it with that file.") from None

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, len(chains)), thread_name_prefix="provision") as pool:
        futures = {name: pool.submit(guarded, name, chain) for name, chain in chains.items()}
        results: dict[str, object] = {}
        failures: list[str] = []
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except ProvisionError as error:
                failures.append(f"[{name}] {error}")
    if failures and advice:
        kept = [name for name in chains if name in results]
        failures.append(
            (f"The other chains finished and their work is kept ({', '.join(kept)}). " if kept else "")
            + "Run the same command again to retry only what failed.")
    if failures:
        raise ProvisionError("\n".join(failures))
    if len(chains) > 1:
        log(f"==> {', '.join(chains)} ready in {format_seconds(time.monotonic() - started)}")
    return results


def _write_traceback(prefix: Path | None, chain: str) -> Path | str:
    text = traceback.format_exc()
    if prefix is None:
        return "(no log folder given)\n" + text
    path = prefix.with_name(f"{prefix.name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-"
                            f"{chain.replace('/', '_')}.traceback")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
