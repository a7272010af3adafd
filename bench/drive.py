"""Drive one job through a benchmark: drain a backlog, then hold a fixed rate, measuring as we go.

- drain: the backlog is produced before the job starts; throughput counts from the first visible output
  to the last, so job start-up (printed apart) does not dilute it.
- rate: records offered at a fixed rate; latency of each = when a read_committed reader sees the output
  - the Kafka timestamp of the input (exactly-once output is visible only when a checkpoint commits).
- CPU: user + system time of the same processes while the backlog drains, per output record.
- memory: the summed RSS of the job's process tree (Python client + the JVM running the MiniCluster),
  or with `cluster=True` (the job submitted to the local cluster) of the cluster's processes.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.measure import PeakMemory, cpu_seconds, percentile
from harness.jobs import RunningJob, SubmittedJob
from harness.kafka import Collector


@dataclass
class Run:
    startup_s: float = 0.0
    drain_s: float = 0.0
    drained: int = 0
    latencies_s: list[float] = field(default_factory=list)
    peak_memory: int = 0
    drain_cpu_s: float = 0.0  # CPU of the job's processes from the first output to the last of the drain
    drain_cpu_records: int = 0  # outputs made in that time

    def cpu_per_record_us(self) -> float:
        return self.drain_cpu_s / max(1, self.drain_cpu_records) * 1e6

    def latency_ms(self, p: float) -> float:
        return percentile(sorted(self.latencies_s), p) * 1000


class Drive:
    def __init__(self, job: str, env: dict, bootstrap: str, out_topic: str, log, *job_args: str, cluster: bool = False):
        self.collector = Collector(bootstrap, out_topic)
        self.log = log
        self.started = time.monotonic()
        if cluster:
            from infra.stack import flink_cluster

            self.job = SubmittedJob(job, env, log, *job_args)
            pids = [pid for _, pid, _ in flink_cluster.processes(self.job.settings) if pid]
        else:
            self.job = RunningJob(job, env, log, *job_args)
            pids = [self.job.proc.pid]
        self.pids = pids
        self.memory = PeakMemory(*pids).start()
        self.run = Run()

    def drain(self, expected: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        first, cpu_from, counted_from = None, 0.0, 0
        while len(self.collector.values) < expected:
            self.collector.poll_for(0.5)
            if first is None and self.collector.values:
                first = self.collector.arrivals[0]
                self.run.startup_s = time.monotonic() - self.started
                cpu_from, counted_from = cpu_seconds(self.pids), len(self.collector.values)
            if not self.job.alive() or time.monotonic() > deadline:
                raise SystemExit(
                    f"job stopped or timed out with {len(self.collector.values)}/{expected}; read {self.log}"
                )
        self.run.drained = expected
        self.run.drain_s = self.collector.arrivals[expected - 1] - first
        self.run.drain_cpu_s = cpu_seconds(self.pids) - cpu_from
        self.run.drain_cpu_records = len(self.collector.values) - counted_from

    def at_rate(
        self,
        rate: float,
        seconds: float,
        send: Callable[[int], None],
        produced_at: Callable[[bytes], float],
        flush: Callable[[], None],
    ) -> None:
        """Call send(i) `rate` times a second for `seconds`; latency of each output from produced_at(value)
        (None: that output is not a latency sample, e.g. a second output of one input)."""
        base, sent, t0 = len(self.collector.values), 0, time.time()
        while time.time() - t0 < seconds:
            due = int((time.time() - t0) * rate)
            while sent < due:
                send(sent)
                sent += 1
            self.collector.poll_for(0.01)
        flush()
        self.collector.wait_for(base + sent, timeout=120, alive=self.job.alive)
        self.collector.poll_for(3)  # outputs of the last inputs still in flight
        samples = (
            (produced_at(v), arrival)
            for v, arrival in zip(self.collector.values[base:], self.collector.arrivals[base:])
        )
        self.run.latencies_s = [arrival - t for t, arrival in samples if t is not None]

    def stop(self) -> Run:
        self.run.peak_memory = self.memory.stop()
        self.job.kill(signal.SIGTERM)
        self.collector.close()
        return self.run
