"""`headwater top`: one live page of every running job, from the jobs' Prometheus endpoints.

Every Flink process that runs a Headwater job serves its metrics on a port of HEADWATER_METRICS_PORTS
(docs/metrics.md): the MiniCluster of each `headwater run`, and each process of a cluster. So one scan
of that range sees the jobs wherever they run. Two scans `interval` seconds apart give the rates; the
Kafka brokers give the end offsets that the lag is measured against. The pure part (`job_rows`) turns
two scans and the end offsets into one row per job.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from common.prometheus import OPERATOR, Sample

STATE_GAUGES = (  # Flink's per-state time gauges: non-zero while the job is in that state
    ("restartingTime", "RESTARTING"),
    ("failingTime", "FAILING"),
    ("cancellingTime", "CANCELLING"),
    ("initializingTime", "INITIALIZING"),
    ("deployingTime", "DEPLOYING"),
    ("createdTime", "CREATED"),
    ("runningTime", "RUNNING"),
)
JOB = "flink_jobmanager_job_"
OFFSET = OPERATOR + "KafkaSourceReader_topic_partition_currentOffset"


@dataclass
class JobRow:
    job: str
    job_id: str
    state: str = "?"
    restarts: int = 0
    in_per_s: float = 0.0
    out_per_s: float = 0.0
    lag: dict[str, int] = field(default_factory=dict)  # topic label -> records not read yet
    checkpoint_age_s: float | None = None
    checkpoint_bytes: int | None = None
    backpressure_pct: float = 0.0
    freshness_ms: tuple[int, int] | None = None  # p50, p99


def by_job(samples: list[Sample]) -> dict[str, list[Sample]]:
    jobs: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        if "job_id" in sample.labels:
            jobs[sample.labels["job_id"]].append(sample)
    return dict(jobs)


def current_offsets(samples: list[Sample]) -> dict[tuple[str, int], float]:
    """(topic label, partition) -> the source's current offset (the next record it reads)."""
    return {
        (s.labels.get("topic", ""), int(s.labels.get("partition", -1))): s.value
        for s in samples
        if s.name == OFFSET and s.value >= 0
    }


def _value(samples: list[Sample], name: str, pick=max) -> float | None:
    values = [s.value for s in samples if s.name == name]
    return pick(values) if values else None


def job_rows(
    before: list[Sample],
    after: list[Sample],
    elapsed_s: float,
    end_offsets: dict[tuple[str, int], int],
    now_ms: int,
) -> list[JobRow]:
    """One row per job seen in `after`, with rates over the `elapsed_s` since `before`."""
    earlier = by_job(before)
    rows = []
    for job_id, samples in sorted(by_job(after).items()):
        name = next((s.labels["job_name"] for s in samples if "job_name" in s.labels), job_id)
        row = JobRow(job=name.removeprefix("headwater_").replace("_", "-"), job_id=job_id)
        row.state = next((state for gauge, state in STATE_GAUGES if (_value(samples, JOB + gauge) or 0) > 0), "?")
        row.restarts = int(_value(samples, JOB + "numRestarts") or 0)
        previous = earlier.get(job_id, [])
        read_now, read_then = current_offsets(samples), current_offsets(previous)
        if elapsed_s > 0:
            read = sum(max(0.0, read_now[p] - read_then[p]) for p in read_now if p in read_then)
            sent = sum(s.value for s in samples if s.name == OPERATOR + "numRecordsSend") - sum(
                s.value for s in previous if s.name == OPERATOR + "numRecordsSend"
            )
            row.in_per_s, row.out_per_s = read / elapsed_s, max(0.0, sent) / elapsed_s if previous else 0.0
        lag: dict[str, int] = defaultdict(int)
        for (topic, partition), offset in read_now.items():
            end = end_offsets.get((topic, partition))
            if end is not None:
                lag[topic] += max(0, int(end - offset))
        row.lag = dict(lag)
        completed = _value(samples, JOB + "lastCheckpointCompletedTimestamp")
        if completed and completed > 0:
            row.checkpoint_age_s = max(0.0, (now_ms - completed) / 1000)
            row.checkpoint_bytes = int(_value(samples, JOB + "lastCheckpointFullSize") or 0)
        row.backpressure_pct = (_value(samples, "flink_taskmanager_job_task_backPressuredTimeMsPerSecond") or 0) / 10
        p50, p99 = _value(samples, OPERATOR + "freshness_p50_ms"), _value(samples, OPERATOR + "freshness_p99_ms")
        row.freshness_ms = (int(p50), int(p99)) if p50 is not None and p99 is not None else None
        rows.append(row)
    return rows


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def table(rows: list[JobRow], topic_names: dict[str, str]):
    """A rich Table of the rows; topic labels shown as the topics' names."""
    from rich.table import Table

    grid = Table(title="Headwater jobs (from HEADWATER_METRICS_PORTS)", title_justify="left")
    for column in ("job", "state", "restarts", "in/s", "out/s", "lag (records)", "checkpoint", "back-pressure"):
        grid.add_column(column, justify="left" if column in ("job", "state", "lag (records)") else "right")
    grid.add_column("freshness p50 / p99", justify="right")
    for row in rows:
        lag = "\n".join(f"{topic_names.get(t, t)} {n:,}" for t, n in sorted(row.lag.items())) or "-"
        checkpoint = (
            f"{row.checkpoint_age_s:.0f} s ago, {_size(row.checkpoint_bytes or 0)}"
            if row.checkpoint_age_s is not None
            else "none yet"
        )
        freshness = (
            f"{row.freshness_ms[0] / 1000:.1f} s / {row.freshness_ms[1] / 1000:.1f} s" if row.freshness_ms else "-"
        )
        grid.add_row(
            f"{row.job} ({row.job_id[:8]})",
            row.state,
            str(row.restarts),
            f"{row.in_per_s:,.0f}",
            f"{row.out_per_s:,.0f}",
            lag,
            checkpoint,
            f"{row.backpressure_pct:.0f}%",
            freshness,
        )
    return grid


def end_offsets(settings, labels: set[tuple[str, int]]) -> tuple[dict[tuple[str, int], int], dict[str, str]]:
    """The brokers' end offsets of the (topic label, partition)s the sources read, and label -> topic."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    from common.kafka.clients import client_config
    from common.prometheus import label_value

    consumer = Consumer(client_config(settings, {"group.id": "headwater-top", "enable.auto.commit": False}))
    try:
        names = {label_value(name): name for name in consumer.list_topics(timeout=10).topics}
        ends = {}
        for topic_label, partition in labels:
            name = names.get(topic_label)
            if name is None:
                continue
            try:
                ends[(topic_label, partition)] = consumer.get_watermark_offsets(
                    TopicPartition(name, partition), timeout=5
                )[1]
            except KafkaException:
                continue
        return ends, names
    finally:
        consumer.close()


def snapshot(settings, interval_s: float):
    """Two scans `interval_s` apart -> (rows, topic names)."""
    from common.prometheus import scrape_all

    before, started = scrape_all(settings.metrics_ports), time.monotonic()
    time.sleep(interval_s)
    after = scrape_all(settings.metrics_ports)
    elapsed = time.monotonic() - started
    ends, names = end_offsets(settings, set(current_offsets(after))) if after else ({}, {})
    return job_rows(before, after, elapsed, ends, int(time.time() * 1000)), names
