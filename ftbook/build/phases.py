"""Wall time, CPU time and how busy the cores were, per phase of a build: the line a build ends with.

Phases overlap (chapters run while provisioning goes on), so each is
measured on its own interval. CPU time is the whole machine's, from
``/proc/stat``: "how busy were the cores" is a question about the machine,
and a build's work runs in many processes that are not all its children
when a phase ends. Where ``/proc/stat`` is missing, the report says so.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import time
from pathlib import Path

PROC_STAT = Path("/proc/stat")
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user, nice, system, irq, softirq, steal (not idle, iowait)


def machine_cpu_seconds() -> float | None:
    """CPU seconds all cores have spent busy since boot, or None where the kernel does not say."""
    try:
        fields = PROC_STAT.read_text().split("\n", 1)[0].split()[1:]
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return None
    return sum(int(fields[i]) for i in _BUSY_FIELDS if i < len(fields)) / ticks


@dataclasses.dataclass
class Phase:
    name: str
    started: float
    cpu_started: float | None
    ended: float | None = None
    cpu_ended: float | None = None

    def line(self, cores: int) -> str:
        """``chapters: 612.3 s wall, 1180.4 s CPU, cores 96 % busy`` (in seconds: benchmarks read them)."""
        wall = (self.ended or time.monotonic()) - self.started
        if self.cpu_started is None or self.cpu_ended is None or wall <= 0:
            return f"{self.name}: {wall:.1f} s wall (CPU time not measured on this system)"
        cpu = self.cpu_ended - self.cpu_started
        return f"{self.name}: {wall:.1f} s wall, {cpu:.1f} s CPU, cores {100 * cpu / wall / cores:.0f} % busy"


LINE = re.compile(r"(?P<name>[a-z ]+): (?P<wall>[\d.]+) s wall, (?P<cpu>[\d.]+) s CPU, "
                  r"cores (?P<busy>\d+) % busy")


def read_report(text: str) -> dict[str, dict[str, float]]:
    """Each phase in a build log: ``{"sphinx": {"wall_seconds": 9.0, "cpu_seconds": 18.0, "busy": 1.0}}``."""
    return {match["name"].strip(): {"wall_seconds": float(match["wall"]), "cpu_seconds": float(match["cpu"]),
                                    "busy": int(match["busy"]) / 100}
            for match in LINE.finditer(text)}


class Phases:
    """Named intervals, started and ended from any thread; :meth:`report` is the build's last lines."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phases: dict[str, Phase] = {}

    def start(self, name: str) -> None:
        with self._lock:
            self._phases.setdefault(name, Phase(name, time.monotonic(), machine_cpu_seconds()))

    def end(self, name: str) -> None:
        with self._lock:
            phase = self._phases.get(name)
            if phase is not None and phase.ended is None:
                phase.ended, phase.cpu_ended = time.monotonic(), machine_cpu_seconds()

    def report(self) -> list[str]:
        cores = os.cpu_count() or 1
        with self._lock:
            return [phase.line(cores) for phase in self._phases.values() if phase.ended is not None]
