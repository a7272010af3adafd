"""Input for audience-computation's tests and benchmark: users' enriched events (a seeded workload),
identity profiles, audience definitions, as the records the job reads."""

from __future__ import annotations

import random
import zlib

from confluent_kafka import Producer

from common.config import Settings
from common.flink.buckets import bucket_of
from common.kafka.produce import send
from common.serde.avro import AvroCodec
from common.topics import topic
from jobs.audience_computation.conditions import DAY_MS

T0 = 1_700_000_000_000
EVENT_NAMES = ("purchased", "app_opened", "viewed")
Event = tuple[str, str, int, dict]  # (user, name, event time, attribute snapshot)


def workload(
    rng: random.Random, users: int, events: int, start_ms: int = T0, step_ms: int = 30 * 60_000
) -> list[Event]:
    """Events in time order, one every `step_ms`, of random users; one in ten up to 3 hours late."""
    out = []
    for n in range(events):
        late = rng.randrange(3 * 3600_000) if rng.random() < 0.1 else 0
        attributes = {"plan": rng.choice(["pro", "free"]), "ltv": rng.randrange(100)}
        if rng.random() < 0.1:
            attributes["blocked"] = True
        out.append((f"u{rng.randrange(users)}", rng.choice(EVENT_NAMES), start_ms + n * step_ms - late, attributes))
    return out


def ticks(time_ms: int, users: int = 1000) -> list[Event]:
    """One far-future event for each of `users` tick users: enough that every bucket reads one from
    every partition, so every bucket's clock passes `time_ms` less the lateness and every change point
    before it fires."""
    return [(f"tick-{n}", "viewed", time_ms, {}) for n in range(users)]


def enriched_value(codec: AvroCodec, tenant: str, event: Event, index: int = 0) -> bytes:
    user, name, time_ms, attributes = event
    return codec.encode(
        "enriched_event",
        {
            "tenant": tenant,
            "user_id": user,
            "message_id": f"m-{user}-{time_ms}-{index}",
            "index": 0,
            "name": name,
            "time_ms": time_ms,
            "properties": {},
            "user_attributes": attributes,
        },
    )


def identity_value(codec: AvroCodec, tenant: str, user: str, ids, merged_into: str | None = None) -> bytes:
    record = {
        "tenant": tenant,
        "user_id": user,
        "external_ids": [{"type": t, "value": v, "first_seen_ms": s} for t, v, s in ids],
        "merged_into": merged_into,
        "deleted": False,
    }
    return codec.encode("identity_profile", record)


def partition_of(key: str, partitions: int) -> int:
    return zlib.crc32(key.encode()) % partitions


def produce(settings: Settings, suffix: str, keyed_values: list[tuple[str, bytes]], partitions: int = 0) -> None:
    """Keyed records to a topic in order (a user's records share a key, so a partition, so an order);
    with `partitions`, to partition_of(key) (a test then knows where each went)."""
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True, "linger.ms": 5})
    name = topic(settings.topic_prefix, suffix)
    for key, value in keyed_values:
        where = {"partition": partition_of(key, partitions)} if partitions else {}
        send(producer, name, value, key=key.encode(), **where)
    assert producer.flush(60) == 0, "not all records were acknowledged"


def produce_events(settings: Settings, tenant: str, events: list[Event], partitions: int = 0) -> None:
    codec = AvroCodec()
    produce(
        settings,
        "events.enriched",
        [(f"{tenant}:{e[0]}", enriched_value(codec, tenant, e, n)) for n, e in enumerate(events)],
        partitions,
    )


def bucket_clocks(tenant: str, events: list[Event], partitions: int, buckets: int, lateness_ms: int):
    """user id -> the clock of its bucket once the job has read `events` (operators.py: per partition
    of hw.events.enriched the newest event time the bucket read, the oldest of those less the lateness;
    0 until every partition brought it one)."""
    newest: dict[int, dict[int, int]] = {}
    for user, _name, time_ms, _attributes in events:
        per_partition = newest.setdefault(bucket_of(tenant, user, buckets), {})
        partition = partition_of(f"{tenant}:{user}", partitions)
        per_partition[partition] = max(time_ms, per_partition.get(partition, time_ms))

    def clock(user: str) -> int:
        per_partition = newest.get(bucket_of(tenant, user, buckets), {})
        return min(per_partition.values()) - lateness_ms if len(per_partition) == partitions else 0

    return clock


__all__ = [
    "DAY_MS",
    "T0",
    "bucket_clocks",
    "enriched_value",
    "identity_value",
    "produce",
    "produce_events",
    "ticks",
    "workload",
]
