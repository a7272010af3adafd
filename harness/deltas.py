"""Synthetic state-delta streams for reaction-streaming tests and its benchmark.

Each entity gets a version-ordered list of deltas shaped like action-streaming's (set of scalars and
nested `attributes.*`/`counters.*`, unset, add_to_set/pull on arrays, the odd delete). `interleave`
turns them into one Kafka stream that keeps each entity's order, with duplicates and stale retries
(an older delta of the entity sent again later) mixed in.
"""

from __future__ import annotations

import random

from common.kafka.produce import send
from common.serde.avro import AvroCodec
from common.topics import topic

ARRAYS = ("emails", "devices")
SCALARS = ("name", "attributes.plan", "attributes.tier", "counters.app_opened", "last_seen")


def entity_deltas(rng: random.Random, tenant: str, entity: int, count: int, delete_rate: float = 0.01) -> list[dict]:
    collection = "devices" if entity % 5 == 0 else "users"
    doc_id = f"{tenant}:e{entity}"
    out = []
    for version in range(1, count + 1):
        d = {
            "tenant": tenant,
            "collection": collection,
            "doc_id": doc_id,
            "version": version,
            "message_id": f"m-{entity}-{version}",
            "delete": False,
            "set": {"version": version},
            "unset": [],
            "add_to_set": {},
            "pull": {},
        }
        if version == 1:
            d["set"]["tenant"] = tenant
        for path in rng.sample(SCALARS, rng.randint(1, 2)):
            if rng.random() < 0.15 and path.startswith("attributes"):
                d["unset"].append(path)
            else:
                d["set"][path] = rng.choice([rng.randint(0, 99), f"v{rng.randint(0, 9)}", 1.5, True, None])
        array = rng.choice(ARRAYS)
        values = [f"{array[0]}{rng.randint(0, 5)}" for _ in range(rng.randint(1, 2))]
        (d["pull"] if rng.random() < 0.3 else d["add_to_set"])[array] = values
        if rng.random() < delete_rate and version > 2:
            d = {**d, "delete": True, "set": {}, "unset": [], "add_to_set": {}, "pull": {}}
            out.append(d)
            break
        out.append(d)
    return out


def interleave(
    rng: random.Random, streams: list[list[dict]], duplicate_rate: float = 0.05, retry_rate: float = 0.05
) -> list[dict]:
    """One stream keeping each entity's order, with repeats of the delta just sent (duplicates) and of
    an older delta of the same entity (stale retries)."""
    cursors = [0] * len(streams)
    live = [i for i, s in enumerate(streams) if s]
    out = []
    while live:
        pick = rng.randrange(len(live))
        i = live[pick]
        d = streams[i][cursors[i]]
        out.append(d)
        if rng.random() < duplicate_rate:
            out.append(d)
        if cursors[i] and rng.random() < retry_rate:
            out.append(streams[i][rng.randrange(cursors[i])])
        cursors[i] += 1
        if cursors[i] == len(streams[i]):
            live[pick] = live[-1]
            live.pop()
    return out


def produce(settings, deltas: list[dict]) -> None:
    """Send `deltas` to the state.deltas topic as action-streaming would: Avro, keyed by document."""
    from confluent_kafka import Producer

    codec = AvroCodec()
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True, "linger.ms": 20})
    for d in deltas:
        send(
            producer,
            topic(settings.topic_prefix, "state.deltas"),
            codec.encode("state_delta", d),
            key=d["doc_id"].encode(),
        )
    if producer.flush(120):
        raise RuntimeError("not every delta was acknowledged by Kafka")
