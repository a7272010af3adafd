"""Benchmark of audience-computation (`make bench-audiences`): 50 audiences over 100k users of one tenant.

The audiences mix attribute conditions, event windows and both (`audiences()`). A backlog of --events
enriched events of --users users (each with its attribute snapshot) is produced to hw.events.enriched
before the job starts; throughput is events/s and messages/s from the first message on
hw.compute.output to the last (the count is known in advance: the job's own rules, run here on the same
input). The job's clock is held back (HEADWATER_AUDIENCE_LATENESS_MS of ten years) so that no exit by
time falls in the backlog's count. Then --rate events/s for --seconds, each of a new user that enters
the attribute audiences: latency from the event's Kafka timestamp to its first message being visible
(read_committed: outputs commit with checkpoints). Also: CPU seconds per event, each subtask's share of
the events, peak memory of the job's process tree (with --cluster: of the local cluster's processes).
Options go in BENCH_ARGS, e.g. `make bench-audiences BENCH_ARGS="--parallelism 2 --cluster"`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import uuid

from bench.drive import Drive
from bench.measure import mib
from cli.audiences import put_audience
from common import config
from common.contracts.audiences import parse_audience
from common.kafka.admin import ensure_topics
from common.kafka.produce import send
from common.log import configure as configure_logging
from common.log import get_logger
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.audiences import EVENT_NAMES, enriched_value, produce_events
from jobs.audience_computation import memberships
from jobs.audience_computation.definitions import TenantAudiences
from jobs.audience_computation.report import parse_reports

log = get_logger(__name__)
TENANT = "bench"
TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000


def audiences(count: int = 50) -> dict[str, dict]:
    """`count` audiences: attribute conditions, event windows, and both."""
    out = {}
    for k in range(count):
        attribute = (
            {"attribute": "plan", "equals": "pro"}
            if k % 2
            else {"attribute": "ltv", "min": (k * 7) % 80, "max": (k * 7) % 80 + 20}
        )
        window = {"event": EVENT_NAMES[k % 3], "at_least": 1 + k % 3, "days": 1 + k % 7}
        out[f"aud-{k:02d}"] = [attribute, window, {"all": [attribute, window]}][k % 3]
    return out


def backlog(users: int, events: int, start_ms: int, seed: int = 1) -> list[tuple[str, str, int, dict]]:
    rng = random.Random(seed)
    return [
        (
            f"u{rng.randrange(users)}",
            rng.choice(EVENT_NAMES),
            start_ms + n * 1000,
            {"plan": rng.choice(["pro", "free"]), "ltv": rng.randrange(100)},
        )
        for n in range(events)
    ]


def expected_messages(definitions: dict[str, dict], events) -> int:
    """How many messages the job's rules make of `events` (no exit by time: the clock is held back)."""
    tenant = TenantAudiences.of({k: parse_audience(TENANT, k, json.dumps(v)) for k, v in definitions.items()})
    users: dict[str, memberships.User] = {}
    total = 0
    for user_id, name, time_ms, attributes in events:
        user = users.setdefault(user_id, memberships.User())
        total += len(memberships.on_event(user, tenant, name, time_ms, attributes))
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=300_000, help="backlog of enriched events")
    ap.add_argument("--users", type=int, default=100_000, help="users of the one tenant")
    ap.add_argument("--audiences", type=int, default=50, help="audiences of the tenant")
    ap.add_argument("--parallelism", type=int, default=1)
    ap.add_argument("--rate", type=int, default=1000, help="events/s in the latency phase")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--cluster", action="store_true", help="submit to the local cluster (`headwater cluster up`)")
    args = ap.parse_args()

    run_id = uuid.uuid4().hex[:8]
    env = {
        "HEADWATER_TOPIC_PREFIX": f"bench{run_id}.",
        "HEADWATER_CHECKPOINTS": f"s3://headwater/bench-{run_id}",
        "HEADWATER_AUDIENCE_LATENESS_MS": str(TEN_YEARS_MS),
    }
    settings = config.load({**os.environ, **env})
    ensure_topics(settings, partitions=4)
    definitions = audiences(args.audiences)
    for audience_id, condition in definitions.items():
        put_audience(settings, TENANT, audience_id, json.dumps(condition))
    start = int(time.time() * 1000) - 10 * 24 * 3600 * 1000
    events = backlog(args.users, args.events, start)
    log.info(
        f"counting what the rules make of {args.events:,} events of {args.users:,} users, {args.audiences} audiences"
    )
    counted = time.monotonic()
    expected = expected_messages(definitions, events)
    alone = args.events / (time.monotonic() - counted)
    log.info(f"  {expected:,} messages expected (the rules alone, in this process: {alone:,.0f} events/s)")
    log.info(f"  producing {args.events:,} enriched events")
    produce_events(settings, TENANT, events)

    log_path = settings.data_dir / "logs" / f"bench-audiences-{run_id}.log"
    drive = Drive(
        "audience-computation",
        env,
        settings.kafka_bootstrap,
        topic(settings.topic_prefix, "compute.output"),
        log_path,
        "--parallelism",
        str(args.parallelism),
        cluster=args.cluster,
    )
    codec = AvroCodec()
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
    sent_at: dict[str, float] = {}
    try:
        drive.drain(expected, timeout=3600)
        events_s = args.events / drive.run.drain_s
        messages_s = expected / drive.run.drain_s
        cpu_us = drive.run.drain_cpu_s / args.events * 1e6
        log.info(
            f"  start-up {drive.run.startup_s:.1f} s; drained in {drive.run.drain_s:.1f} s -> "
            f"{events_s:,.0f} events/s, {messages_s:,.0f} messages/s, {cpu_us:,.0f} CPU µs per event "
            f"(parallelism {args.parallelism}{', local cluster' if args.cluster else ''})"
        )
        latest = {r["subtask"]: r["events"] for r in parse_reports(log_path.read_text(errors="replace"))}
        total = sum(latest.values()) or 1
        share = ", ".join(f"subtask {s}: {n / total:.0%}" for s, n in sorted(latest.items()))
        log.info(f"  events per subtask: {share or 'no progress lines (on a cluster: see the TaskManager logs)'}")
        last_time = events[-1][2]

        def send_next(i: int) -> None:
            user = f"lat-{i}"
            sent_at[user] = time.time()
            value = enriched_value(codec, TENANT, (user, "viewed", last_time + i, {"plan": "pro", "ltv": 50}))
            send(p, topic(settings.topic_prefix, "events.enriched"), value, key=f"{TENANT}:{user}".encode())

        first_only: set[str] = set()

        def produced_at(value: bytes) -> float | None:
            user = codec.decode(value)["profile_id"]
            if user in first_only or user not in sent_at:
                return None
            first_only.add(user)
            return sent_at[user]

        drive.collector.keys.clear()
        drive.collector.values.clear()
        drive.collector.arrivals.clear()
        drive.at_rate(args.rate, args.seconds, send=send_next, produced_at=produced_at, flush=lambda: p.flush(60))
    finally:
        result = drive.stop()
    log.info(
        f"  at {args.rate} events/s: latency p50 {result.latency_ms(50):.0f} ms, p95 {result.latency_ms(95):.0f} ms, "
        f"p99 {result.latency_ms(99):.0f} ms over {len(result.latencies_s):,} users; "
        f"peak memory {mib(result.peak_memory)}"
    )
    log.info("\nevents/s  messages/s  CPU µs/event  latency p50 / p99 (ms)  peak memory")
    log.info(
        f"{events_s:>8,.0f}  {messages_s:>10,.0f}  {cpu_us:>12,.0f}  {result.latency_ms(50):>10.0f} / "
        f"{result.latency_ms(99):<10.0f}  {mib(result.peak_memory)}"
    )


if __name__ == "__main__":
    configure_logging()
    main()
