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


FRESHNESS_PERCENTILES = (50, 99)


class BatchedCounters:
    """Flink counters fed once per element: counts add up in `pending` (a dict, cheap to update per
    record) and reach the counters in `flush`, because each `inc` is a call into the JVM."""

    def __init__(self, metrics_group, names):
        self.counters = {name: metrics_group.counter(name) for name in names}
        self.pending = dict.fromkeys(self.counters, 0)

    def flush(self) -> None:
        for name, n in self.pending.items():
            if n:
                self.counters[name].inc(n)
                self.pending[name] = 0


def register_freshness(metrics_group, window: LatencyWindow) -> None:
    """Gauges `freshness_p50_ms`, `freshness_p99_ms` and `freshness_max_ms` over `window`: how old the
    ingest data was (from the Kafka timestamp of its ingest record, which every hop carries along) when
    this job handled it, over its last records (docs/metrics.md). PyFlink has no histogram metric; the
    reporter exports these gauges, which a dashboard plots per job."""
    for p in FRESHNESS_PERCENTILES:
        metrics_group.gauge(f"freshness_p{p}_ms", lambda p=p: int(window.percentile(p)))
    metrics_group.gauge("freshness_max_ms", lambda: int(window.percentile(100)))
