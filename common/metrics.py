"""Latency windows shared by the jobs' metrics and the benchmarks.

A job keeps the last few thousand durations of each step and exposes their percentiles as Flink
gauges and in its progress line: a bounded window, so memory does not grow with uptime.
"""

from __future__ import annotations

from collections import deque


def percentile(sorted_values, p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of an already sorted sequence; 0 when empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil(n * p / 100), at least the first
    return float(sorted_values[min(len(sorted_values), int(rank)) - 1])


class LatencyWindow:
    """The last `size` durations of one step."""

    def __init__(self, size: int = 2000):
        self.values: deque[float] = deque(maxlen=size)

    def add(self, value: float) -> None:
        self.values.append(value)

    def extend(self, values) -> None:
        self.values.extend(values)

    def percentile(self, p: float) -> float:
        return percentile(sorted(self.values), p)
