"""Measurements shared by the benchmarks: percentiles, CPU time and the peak memory of process trees."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from common.metrics import percentile  # noqa: F401  (the benchmarks' percentiles are the jobs' own)


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def rss_bytes(pids: list[int]) -> int:
    """Current resident memory of the processes, summed."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) the process trees of `pids` have used so far, summed."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for root in pids:
        for pid in process_tree(root):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
            except (OSError, IndexError, ValueError):
                pass
    return total / tick


class PeakMemory:
    """Sample the summed RSS of process trees (a job's `headwater run`, or a cluster's processes);
    `peak` is the largest sum seen."""

    def __init__(self, *pids: int):
        self.pids = pids
        self.peak = 0

    def sample(self) -> int:
        now = rss_bytes([p for pid in self.pids for p in process_tree(pid)])
        self.peak = max(self.peak, now)
        return now

    def start(self, every_s: float = 0.5) -> PeakMemory:
        """Sample in a background thread until `stop`."""
        self._stopped = threading.Event()

        def loop():
            while not self._stopped.is_set():
                self.sample()
                time.sleep(every_s)

        threading.Thread(target=loop, daemon=True).start()
        return self

    def stop(self) -> int:
        self._stopped.set()
        return self.peak


def mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"
