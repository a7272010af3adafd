"""Benchmark of api-unification (`make bench-unification`).

1. In the MiniCluster: synthetic SDK batches of 1, 10 and 50 events (two tenants), at parallelism 1 and 2.
2. On the local cluster (`headwater cluster up`: 2 TaskManagers), one tenant's 10-event batches for
   --users users, at parallelism 1 and 2: how one tenant spreads (the share of records each subtask of
   the schema gate read, from Flink's REST API).

For each: events/s draining a backlog of --events events, CPU seconds per message (all of the job's
processes, while draining), per-record latency at a fixed rate (half the drained rate, for --seconds),
and peak memory. See bench/drive.py.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid

from confluent_kafka import Producer

from bench.drive import Drive
from bench.measure import mib
from cli.synthetic import Generator
from common import config
from common.kafka.admin import ensure_topics
from common.kafka.produce import send
from common.log import configure as configure_logging
from common.log import get_logger
from common.serde.avro import AvroCodec
from common.topics import topic

log = get_logger(__name__)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000, help="events in the backlog of each run")
    ap.add_argument("--seconds", type=int, default=10, help="length of each fixed-rate latency phase")
    ap.add_argument("--batches", default="1,10,50", help="events per SDK batch, comma-separated")
    ap.add_argument("--parallelism", default="1,2", help="job parallelisms, comma-separated")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--users", type=int, default=5_000, help="users of the one tenant (local cluster runs)")
    ap.add_argument("--runs", default="minicluster,cluster", help="which runs: minicluster, cluster or both")
    args = ap.parse_args()
    rows = []
    parallelisms = [int(p) for p in args.parallelism.split(",")]
    if "minicluster" in args.runs:
        for parallelism in parallelisms:
            for batch in [int(b) for b in args.batches.split(",")]:
                rows.append(_one(parallelism, batch, args))
    if "cluster" in args.runs.replace("minicluster", ""):
        for parallelism in parallelisms:
            rows.append(_one(parallelism, 10, args, cluster=True))
    log.info(
        "\nwhere        tenants  p  batch  events/s  msgs/s  CPU µs/msg  latency p50 / p99 (ms)  peak memory  "
        "gate share per subtask"
    )
    for r in rows:
        log.info(
            f"{r['where']:<11}  {r['tenants']:>7}  {r['p']}  {r['batch']:>5}  {r['events_s']:>8,.0f}  "
            f"{r['msgs_s']:>6,.0f}  {r['cpu_us']:>10,.0f}  {r['p50']:>10.0f} / {r['p99']:<10.0f}  "
            f"{mib(r['mem']):>11}  {r['share']}"
        )


def _one(parallelism: int, batch: int, args, cluster: bool = False) -> dict:
    run_id = uuid.uuid4().hex[:8]
    env = {"HEADWATER_TOPIC_PREFIX": f"bench{run_id}.", "HEADWATER_CHECKPOINTS": f"s3://headwater/bench-{run_id}"}
    settings = config.load({**os.environ, **env})
    ensure_topics(settings, partitions=4)
    ingest, out = topic(settings.topic_prefix, "ingest.sdk"), topic(settings.topic_prefix, "unified.actions")
    messages = max(1, args.events // batch)
    tenants = ("bench",) if cluster else ("acme", "globex")
    gen = Generator(args.seed, arrival_ms=int(time.time() * 1000), users=args.users, tenants=tenants)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True, "linger.ms": 5})

    def send_batch(_i: int) -> None:
        send(producer, ingest, json.dumps(gen.sdk(events=batch)).encode())

    where = "cluster" if cluster else "minicluster"
    log.info(
        f"\n[{where} p={parallelism} batch={batch} tenants={','.join(tenants)}] "
        f"producing {messages} batches ({messages * batch} events)"
    )
    for i in range(messages):
        send_batch(i)
    producer.flush(60)
    drive = Drive(
        "api-unification",
        env,
        settings.kafka_bootstrap,
        out,
        settings.data_dir / "logs" / f"bench-unification-{run_id}.log",
        "--parallelism",
        str(parallelism),
        cluster=cluster,
    )
    try:
        drive.drain(messages)
        events_s = messages * batch / drive.run.drain_s
        log.info(
            f"  start-up {drive.run.startup_s:.1f} s; drained {messages * batch} events in {drive.run.drain_s:.1f} s "
            f"-> {events_s:,.0f} events/s"
        )
        codec = AvroCodec()
        rate = max(1.0, events_s / batch / 2)
        drive.at_rate(
            rate,
            args.seconds,
            send=send_batch,
            produced_at=lambda v: codec.decode(v)["arrival_ms"] / 1000,
            flush=lambda: producer.flush(30),
        )
        share = _gate_share(drive) if cluster else "-"
    finally:
        run = drive.stop()
    log.info(
        f"  at {rate:,.0f} msgs/s: latency p50 {run.latency_ms(50):.0f} ms, p99 {run.latency_ms(99):.0f} ms; "
        f"peak memory {mib(run.peak_memory)}"
    )
    log.info(f"  CPU {run.cpu_per_record_us():,.0f} µs per message while draining; schema gate share {share}")
    return {
        "where": where,
        "tenants": len(tenants),
        "cpu_us": run.cpu_per_record_us(),
        "share": share,
        "p": parallelism,
        "batch": batch,
        "events_s": events_s,
        "msgs_s": events_s / batch,
        "p50": run.latency_ms(50),
        "p99": run.latency_ms(99),
        "mem": run.peak_memory,
    }


def _gate_share(drive: Drive) -> str:
    """The share of records each subtask of the schema gate (keyed by user) read (Flink's metrics trail
    the records by a few seconds: wait until they count every output)."""
    deadline = time.monotonic() + 30
    while True:
        counts = drive.job.flink.records_in_per_subtask(drive.job.job_id, "schema gate")
        if sum(counts) >= len(drive.collector.values) or time.monotonic() > deadline:
            break
        time.sleep(1)
    total = sum(counts) or 1
    return " / ".join(f"{n / total:.0%}" for n in counts)


if __name__ == "__main__":
    configure_logging()
    main()
