"""Provision several interpreters and their environments side by side.

A first build makes three interpreters. Each build has long stretches that
use one core (``configure``, linking, the tail of ``make install``), and
filling an environment mostly waits on the network, so on two cores running
the three chains at once finishes sooner than running them one after the
other. Each chain is a function run in its own thread; its log lines are
prefixed with its name so interleaved progress stays readable.

Two chains that need the same interpreter do not build it twice: building
takes a cross-process ``flock`` (:func:`ftbook.cache.exclusive`), which also
orders threads of one process, so the second simply waits for the first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from ftbook import ProvisionError
from ftbook.cache import format_seconds
from ftbook.interpreters import Log

Chain = Callable[[Log], object]


def run_side_by_side(chains: Mapping[str, Chain], log: Log) -> dict[str, object]:
    """Run every chain at once; return each one's result by name.

    Every chain runs to its end even when another fails (a build half-way
    through is not worth throwing away); then one :class:`ProvisionError`
    names every failure. Any other exception is a bug and propagates as is.
    """
    if len(chains) <= 1:  # nothing to overlap: no threads, no prefixes
        return {name: chain(log) for name, chain in chains.items()}
    lock = threading.Lock()  # one line at a time, never two half-lines

    def prefixed(name: str) -> Log:
        def emit(line: str) -> None:
            with lock:
                for part in line.splitlines() or [""]:
                    log(f"[{name}] {part}")

        return emit

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(chains), thread_name_prefix="provision") as pool:
        futures = {name: pool.submit(chain, prefixed(name)) for name, chain in chains.items()}
        results: dict[str, object] = {}
        failures: list[str] = []
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except ProvisionError as error:
                failures.append(f"[{name}] {error}")
    if failures:
        raise ProvisionError("\n".join(failures))
    log(f"==> {', '.join(chains)} ready in {format_seconds(time.monotonic() - started)}")
    return results
