"""Benchmark of profile-dedupe (`make bench-dedupe`): computation messages with 3 destinations each.

The job first reads the destinations and the identity profiles of --tenants x --profiles profiles.
Then --messages scripted messages (harness/dedupe.py: duplicates, merges, new ids, exits; each
computation connected to an email destination deduping on email, a webhook without dedupes_on and
an SMS destination deduping on phone) are produced as fast as Kafka takes them; throughput is
messages/s and outbound events/s from the first outbound event to the last. Then --rate messages/s
for --seconds, each a trait change that the webhook always receives: latency from the Kafka
timestamp of the message to its outbound event being visible (read_committed: outputs commit with
checkpoints). Peak memory is the job's process
tree (with --cluster: the job is submitted to the local cluster of `headwater cluster up`, and peak
memory is that of the cluster's processes). Options go in BENCH_ARGS, e.g.
`make bench-dedupe BENCH_ARGS="--parallelism 2 --cluster"`.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

from bench.drive import Drive
from bench.measure import mib
from common import config
from common.contracts.compute import ComputeMessage, Trigger, message_record
from common.flink.kafka import client_name
from common.kafka.admin import ensure_topics
from common.kafka.produce import send
from common.log import configure as configure_logging
from common.log import get_logger
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.dedupe import (
    TRAIT,
    expected_outbound,
    generate,
    produce_config,
    produce_messages,
    produce_profiles,
    producer,
)
from harness.kafka import Collector
from jobs.profile_dedupe.report import combined, parse_reports

log = get_logger(__name__)


def _wait_for_profiles(drive: Drive, settings, count: int, timeout: float = 600) -> None:
    """Until the job has read every profile: its progress lines say so (`headwater run`), or, on a
    cluster, its consumer group has committed past the last profile record."""
    profiles = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "identity.profiles"))
    profiles.catch_up()
    deadline = time.monotonic() + timeout
    group = client_name(settings, "profile-dedupe")
    try:
        while time.monotonic() < deadline and drive.job.alive():
            totals = combined(parse_reports(drive.log.read_text(errors="replace")))
            if (totals and totals["profiles"] >= count) or profiles.consumed_by(group):
                return
            time.sleep(1)
    finally:
        profiles.close()
    raise SystemExit(f"the job did not read {count} profiles; read {drive.log}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--messages",
        type=int,
        default=500_000,
        help="backlog of computation messages (long enough that start-up warm-up is a small part of it)",
    )
    ap.add_argument(
        "--tenants", type=int, default=1, help="tenants (one spreads over every subtask: the job is keyed by profile)"
    )
    ap.add_argument("--profiles", type=int, default=80_000, help="profiles per tenant")
    ap.add_argument("--parallelism", type=int, default=1)
    ap.add_argument("--rate", type=int, default=2000, help="messages/s in the latency phase")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--cluster", action="store_true", help="submit to the local cluster (`headwater cluster up`)")
    args = ap.parse_args()

    run_id = uuid.uuid4().hex[:8]
    env = {"HEADWATER_TOPIC_PREFIX": f"bench{run_id}.", "HEADWATER_CHECKPOINTS": f"s3://headwater/bench-{run_id}"}
    settings = config.load({**os.environ, **env})
    ensure_topics(settings, partitions=4)
    tenants = tuple(f"tenant-{i}" for i in range(args.tenants))
    log.info(f"scripting {args.messages:,} messages for {args.tenants} tenants x {args.profiles:,} profiles")
    scenario = generate(
        seed=3, messages=args.messages, tenants=tenants, profiles_per_tenant=args.profiles, destinations_per_message=3
    )
    expected = len(expected_outbound(scenario))
    log.info(f"  {expected:,} outbound events expected; producing config and {len(scenario.profiles):,} profiles")
    produce_config(settings, scenario.destinations)
    produce_profiles(settings, scenario.profiles)

    drive = Drive(
        "profile-dedupe",
        env,
        settings.kafka_bootstrap,
        topic(settings.topic_prefix, "delivery.outbound"),
        settings.data_dir / "logs" / f"bench-dedupe-{run_id}.log",
        "--parallelism",
        str(args.parallelism),
        cluster=args.cluster,
    )
    codec = AvroCodec()
    p = producer(settings)
    sent_at: dict[str, float] = {}
    try:
        _wait_for_profiles(drive, settings, len(scenario.profiles))
        log.info(f"  profiles read; producing {args.messages:,} messages")
        produce_messages(settings, scenario.messages)
        drive.drain(expected, timeout=3600)
        msgs_s = args.messages / drive.run.drain_s
        events_s = expected / drive.run.drain_s
        log.info(
            f"  start-up {drive.run.startup_s:.1f} s; drained in {drive.run.drain_s:.1f} s -> "
            f"{msgs_s:,.0f} messages/s, {events_s:,.0f} outbound events/s "
            f"(parallelism {args.parallelism}{', local cluster' if args.cluster else ''})"
        )

        def send_next(i: int) -> None:
            tenant = tenants[i % len(tenants)]
            message = ComputeMessage(
                tenant=tenant,
                message_id=f"lat-{i}",
                computation_id=TRAIT,
                computation_kind="computed_trait",
                profile_id=f"u-{i % args.profiles}",
                value_json=str(i),
                trigger=Trigger.VALUE_CHANGED,
                event_time_ms=int(time.time() * 1000),
            )
            sent_at[message.message_id] = time.time()
            send(
                p,
                topic(settings.topic_prefix, "compute.output"),
                codec.encode("compute_message", message_record(message)),
                key=tenant.encode(),
            )

        first_event_only = set()

        def produced_at(value: bytes) -> float | None:
            message_id = codec.decode(value)["message_id"]
            if message_id in first_event_only or message_id not in sent_at:
                return None
            first_event_only.add(message_id)
            return sent_at[message_id]

        drive.collector.keys.clear()
        drive.collector.values.clear()
        drive.collector.arrivals.clear()
        drive.at_rate(args.rate, args.seconds, send=send_next, produced_at=produced_at, flush=lambda: p.flush(60))
    finally:
        result = drive.stop()
    log.info(
        f"  at {args.rate} messages/s: latency p50 {result.latency_ms(50):.0f} ms, p95 {result.latency_ms(95):.0f} ms, "
        f"p99 {result.latency_ms(99):.0f} ms over {len(result.latencies_s):,} messages; "
        f"peak memory {mib(result.peak_memory)}"
    )
    log.info("\nmessages/s  outbound events/s  latency p50 / p99 (ms)  peak memory")
    log.info(
        f"{msgs_s:>10,.0f}  {events_s:>17,.0f}  {result.latency_ms(50):>10.0f} / {result.latency_ms(99):<10.0f}  "
        f"{mib(result.peak_memory)}"
    )


if __name__ == "__main__":
    configure_logging()
    main()
