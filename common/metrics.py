"""Latency windows shared by the jobs' metrics and the benchmarks.

A job keeps the last few thousand durations of each step and exposes their percentiles as Flink
gauges and in its progress line: a bounded window, so memory does not grow with uptime.

No job registers a Python gauge (`metrics_group.gauge(name, fn)`): Flink's metrics thread reads one
by calling into the TaskManager's embedded interpreter, and a read that races the operator's close
when a job is cancelled crashed a local-cluster TaskManager (SIGSEGV in CPython's take_gil, from
MetricGauge.getValue). `PushedGauges` keeps each value in a Java counter instead, which the task
thread moves to the value Python computed; reading it never enters Python.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


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


class PushedGauges:
    """Gauges held by Flink counters: `push`, called from the task thread (once per batch, say),
    computes each value and moves its counter there, at most once per `every_s`. Prometheus exports
    Flink counters as gauges, so the scraped series is the value itself."""

    def __init__(self, metrics_group, every_s: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.group = metrics_group
        self.every_s = every_s
        self.clock = clock
        self.due_at = 0.0
        self.gauges: dict[str, list] = {}  # name -> [counter, compute, value it holds]

    def add(self, name: str, compute: Callable[[], float]) -> None:
        self.gauges[name] = [self.group.counter(name), compute, 0]

    def push(self, force: bool = False) -> None:
        now = self.clock()
        if now < self.due_at and not force:
            return
        self.due_at = now + self.every_s
        for entry in self.gauges.values():
            counter, compute, held = entry
            value = int(compute())
            if value != held:
                counter.inc(value - held)
                entry[2] = value


def register_freshness(gauges: PushedGauges, window: LatencyWindow) -> None:
    """Gauges `freshness_p50_ms`, `freshness_p99_ms` and `freshness_max_ms` over `window`: how old the
    ingest data was (from the Kafka timestamp of its ingest record, which every hop carries along) when
    this job handled it, over its last records (docs/metrics.md). PyFlink has no histogram metric; the
    reporter exports these gauges, which a dashboard plots per job."""
    for p in FRESHNESS_PERCENTILES:
        gauges.add(f"freshness_p{p}_ms", lambda p=p: window.percentile(p))
    gauges.add("freshness_max_ms", lambda: window.percentile(100))
