"""Benchmark of action-streaming (`make bench-action`), fed unified actions directly.

All messages are one tenant's (`bench`), fed as the routed records api-unification writes
(common/contracts/routing.py; the job is keyed by identifier, docs/identity.md). Runs:
1. In the MiniCluster, parallelism 1, for each --users count.
2. On the local cluster (`headwater cluster up`: 2 TaskManagers), --cluster-users users at parallelism 1
   and 2: how one tenant spreads over the subtasks (the share of records each subtask of the
   batchers of each identifier level read, from Flink's REST API).

Each: one 10-event message per user builds the state (messages/s and events/s while draining it, CPU
seconds per message of all of the job's processes), then --rate messages/s to existing users for
--seconds (latency from the Kafka timestamp of the unified action to its first delta being visible,
read_committed). State size is what the job's checkpoints hold in S3; peak memory is the job's process
tree (bench/drive.py).
"""

from __future__ import annotations

import argparse
import os
import random
import time
import uuid

from confluent_kafka import Producer

from bench.drive import Drive
from bench.measure import mib
from common import config
from common.contracts.actions import Action, AttributeOp, Event, Identifiers
from common.contracts.routing import LEVELS, routed_records
from common.kafka.admin import ensure_topics
from common.kafka.produce import send
from common.log import configure as configure_logging
from common.log import get_logger
from common.serde.avro import AvroCodec
from common.topics import topic

log = get_logger(__name__)

EVENT_NAMES = ("app_opened", "product_viewed", "added_to_cart", "purchased")


def _message(rng: random.Random, user: int, seq: int, now_ms: int) -> Action:
    ids = Identifiers(customer_id=f"c{user}", anonymous_ids=[f"anon-{user}"], device_id=f"d{user}")
    events = [
        Event(rng.choice(EVENT_NAMES), now_ms - rng.randint(0, 60_000), {"price": rng.randint(1, 500)})
        for _ in range(10)
    ]
    return Action(
        "bench",
        "sdk",
        f"m-{seq}",
        "batch",
        max(e.time_ms for e in events),
        ids,
        events=events,
        attributes=[AttributeOp("set", "plan", rng.choice(["free", "pro"]))],
    )


def _state_bytes(settings, job: str) -> int:
    from urllib.parse import urlparse

    from common.s3 import list_objects

    base = urlparse(f"{settings.checkpoints}/{job}")
    return sum(
        o["Size"]
        for o in list_objects(settings, base.netloc, base.path.lstrip("/") + "/")
        if "/savepoints/" not in o["Key"]
    )


JOB = "action-streaming"


def run(users: int, rate: int, seconds: int, parallelism: int = 1, cluster: bool = False) -> dict:
    job = JOB
    run_id = uuid.uuid4().hex[:8]
    env = {
        "HEADWATER_TOPIC_PREFIX": f"bench{run_id}.",
        "HEADWATER_CHECKPOINTS": f"s3://headwater/bench-{run_id}",
    }
    settings = config.load({**os.environ, **env})
    ensure_topics(settings, partitions=4)
    source = topic(settings.topic_prefix, "unified.actions")
    # The deltas of one message depend on the order its records meet: count its 10 enriched events.
    out = topic(settings.topic_prefix, "events.enriched")
    per_message = 10
    codec, rng = AvroCodec(), random.Random(users)
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "enable.idempotence": True,
            "linger.ms": 20,
            "compression.type": "lz4",
        }
    )
    sent_at: dict[str, float] = {}

    def send_message(user: int, seq: int) -> None:
        now = time.time()
        message = _message(rng, user, seq, int(now * 1000))
        sent_at[f"m-{seq}"] = now
        for key, value in routed_records(codec, message, int(now * 1000)):
            send(producer, source, value, key=key)

    where = "cluster" if cluster else "minicluster"
    log.info(f"\n[{job} {where} p={parallelism} {users:,} users] one 10-event message per user to {source}")
    for user in range(users):
        send_message(user, user)
    producer.flush(120)
    drive = Drive(
        job,
        env,
        settings.kafka_bootstrap,
        out,
        settings.data_dir / "logs" / f"bench-action-{run_id}.log",
        "--parallelism",
        str(parallelism),
        cluster=cluster,
    )
    try:
        drive.drain(per_message * users, timeout=3600)
        msgs_s = users / drive.run.drain_s
        log.info(
            f"  start-up {drive.run.startup_s:.1f} s; state for {users:,} users built in {drive.run.drain_s:.1f} s "
            f"-> {msgs_s:,.0f} messages/s, {10 * msgs_s:,.0f} events/s"
        )
        seq = [users]

        def send_next(_i: int) -> None:
            send_message(rng.randrange(users), seq[0])
            seq[0] += 1

        first_delta_only = set()

        def produced_at(value: bytes) -> float | None:
            message_id = codec.decode(value)["message_id"]
            if message_id in first_delta_only:
                return None  # another output of the same message: not a new sample
            first_delta_only.add(message_id)
            return sent_at[message_id]

        drive.collector.keys.clear()
        drive.collector.values.clear()
        drive.collector.arrivals.clear()
        drive.at_rate(rate, seconds, send=send_next, produced_at=produced_at, flush=lambda: producer.flush(60))
        share = _share(drive, users) if cluster else "-"
    finally:
        result = drive.stop()
    state = _state_bytes(settings, job)
    cpu_us = per_message * result.cpu_per_record_us()
    log.info(f"  CPU {cpu_us:,.0f} µs per message while building the state (all of the job's processes)")
    log.info(
        f"  at {rate} messages/s: latency p50 {result.latency_ms(50):.0f} ms, p99 {result.latency_ms(99):.0f} ms; "
        f"checkpointed state {mib(state)}; peak memory {mib(result.peak_memory)}"
    )
    return {
        "job": job,
        "where": where,
        "p": parallelism,
        "share": share,
        "users": users,
        "msgs_s": msgs_s,
        "cpu_us": cpu_us,
        "p50": result.latency_ms(50),
        "p99": result.latency_ms(99),
        "state": state,
        "mem": result.peak_memory,
    }


def _share(drive: Drive, at_least: int) -> str:
    """The share of records each subtask of each level's batchers read (Flink's metrics trail the
    records by a few seconds: wait until they count `at_least`)."""
    vertices = [f"{kind} batches" for kind in LEVELS]
    deadline, previous = time.monotonic() + 60, None
    while True:
        counts = [drive.job.flink.records_in_per_subtask(drive.job.job_id, vertex) for vertex in vertices]
        settled = counts == previous and sum(map(sum, counts)) >= at_least
        if settled or time.monotonic() > deadline:
            break
        previous = counts
        time.sleep(3)
    return ", ".join(" / ".join(f"{n / (sum(c) or 1):.0%}" for n in c) for c in counts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", default="100000,1000000", help="user counts of the MiniCluster runs, comma-separated")
    ap.add_argument("--cluster-users", type=int, default=20_000, help="users of the local cluster runs")
    ap.add_argument("--runs", default="minicluster,cluster", help="which runs: minicluster, cluster or both")
    ap.add_argument("--rate", type=int, default=500, help="messages/s (10 events each) in the latency phase")
    ap.add_argument("--seconds", type=int, default=20)
    args = ap.parse_args()
    rows = []
    if "minicluster" in args.runs:
        rows += [run(int(u), args.rate, args.seconds) for u in args.users.split(",")]
    if "cluster" in args.runs.replace("minicluster", ""):
        rows += [run(args.cluster_users, args.rate, args.seconds, p, cluster=True) for p in (1, 2)]
    log.info(
        "\njob                      where        p  users      messages/s  events/s  CPU µs/msg  "
        "latency p50 / p99 (ms)  state     peak memory  share per subtask"
    )
    for r in rows:
        log.info(
            f"{r['job']:<23}  {r['where']:<11}  {r['p']}  {r['users']:>9,}  {r['msgs_s']:>10,.0f}  "
            f"{10 * r['msgs_s']:>8,.0f}  "
            f"{r['cpu_us']:>10,.0f}  {r['p50']:>10.0f} / {r['p99']:<10.0f}  {mib(r['state']):<8}  "
            f"{mib(r['mem']):>11}  {r['share']}"
        )


if __name__ == "__main__":
    configure_logging()
    main()
