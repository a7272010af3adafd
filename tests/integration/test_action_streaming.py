"""api-unification + action-streaming on the real stack: 20k messages for 2k users.

Every delta the job emits, folded in order like MongoDB would apply it (harness/models/mongo.py),
gives exactly the documents an independent reference model computes from the inputs: per user,
identifiers, devices, attribute values (the latest write by event time wins), event counters,
first/last seen from event time.
Records of one user are produced with one key, so their order holds through both jobs.
"""

import json
from collections import defaultdict

import pytest

from cli.synthetic import WRITE_KEYS, Generator
from common.kafka.produce import send
from common.log import get_logger
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.jobs import RunningJob
from harness.kafka import Collector
from harness.models.mongo import fold
from jobs.api_unification.timestamps import parse_time_ms

log = get_logger(__name__)

pytestmark = pytest.mark.integration

MESSAGES, USERS = 20_000, 2_000
ARRIVAL = 1_795_000_000_000


def _inputs():
    gen = Generator(seed=11, arrival_ms=ARRIVAL, users=USERS)
    out = []
    for i in range(MESSAGES):
        source = ("sdk", "api", "partner")[i % 3]
        doc = getattr(gen, source)()
        if source == "sdk":
            doc["events"] = doc["events"][:3]  # keep the run short: 3-event batches
        out.append((source, doc))
    return out


def _tenant(source, doc):
    return doc["tenant"] if "tenant" in doc else {v: k for k, v in WRITE_KEYS.items()}[doc["writeKey"]]


def _customer(source, doc):
    return doc["user"]["customer_id"] if source == "sdk" else doc.get("customer_id", doc.get("userId"))


def _reference(inputs):
    """Expected user documents by (tenant, customer_id), straight from the input messages."""
    users = defaultdict(
        lambda: {
            "emails": [],
            "anonymous_ids": [],
            "devices": [],
            "attributes": {},
            "counters": defaultdict(int),
            "first_seen": None,
            "last_seen": None,
            "stamps": {},
            "group_stamps": {},
        }
    )

    def seen(u, t):
        u["first_seen"] = t if u["first_seen"] is None else min(u["first_seen"], t)
        u["last_seen"] = t if u["last_seen"] is None else max(u["last_seen"], t)

    def add(values, v):
        if v not in values:
            values.append(v)

    def write(u, attributes, stamp):  # last writer by event time (then message id) wins
        for name, value in attributes.items():
            if stamp >= u["stamps"].get(name, (-1, "")):
                u["stamps"][name] = stamp
                u["attributes"][name] = value

    for source, doc in inputs:
        u = users[(_tenant(source, doc), _customer(source, doc))]
        if source == "sdk":
            skew = ARRIVAL - parse_time_ms(doc["sent_at"], "sent_at")
            add(u["anonymous_ids"], doc["user"]["anonymous_id"])
            add(u["devices"], doc["device"]["id"])
            times = [parse_time_ms(e["time"], "t") + skew for e in doc["events"]]
            for e, t in zip(doc["events"], times):
                u["counters"][e["name"]] += 1
                seen(u, t)
            write(u, doc["attributes"], (max(times), doc["message_id"]))
            continue
        t = parse_time_ms(doc["timestamp"], "timestamp")
        stamp = (t, doc.get("message_id", doc.get("messageId")))
        seen(u, t)
        kind = doc["type"]
        if kind == "track":
            u["counters"][doc["event"]] += 1
        elif kind == "identify":
            traits = doc.get("attributes") or doc.get("traits")
            add(u["emails"], (doc.get("email") or traits.get("email")).lower())
            write(u, traits, stamp)
        elif kind == "alias":
            add(u["anonymous_ids"], doc["previous"]["anonymous_id"])
        elif kind == "device":
            add(u["devices"], doc["device"]["id"])
        elif kind in ("page", "screen"):
            u["counters"][f"{kind}_viewed"] += 1
        elif kind == "group":  # a list shows its elements by the stamp of their last add (docs/identity.md)
            added = u["group_stamps"]
            added[doc["groupId"]] = max(added.get(doc["groupId"], stamp), stamp)
            u["attributes"]["group_ids"] = sorted(added, key=lambda g: (added[g], g))
            write(u, {f"group.{k}": v for k, v in doc["traits"].items()}, stamp)
    return users


def test_delta_stream_folds_into_the_reference_documents(isolated_env, tmp_path):
    env, settings = isolated_env
    inputs = _inputs()
    expected = _reference(inputs)
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for source, doc in inputs:
        key = f"{_tenant(source, doc)}:{_customer(source, doc)}".encode()
        send(p, topic(settings.topic_prefix, f"ingest.{source}"), json.dumps(doc).encode(), key=key, timestamp=ARRIVAL)
    assert p.flush(60) == 0
    deltas_out = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "state.deltas"))
    events_out = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "events.enriched"))
    unification = RunningJob("api-unification", env, tmp_path / "unification.log")
    streaming = RunningJob("action-streaming", env, tmp_path / "streaming.log")
    expected_events = sum(sum(u["counters"].values()) for u in expected.values())
    try:
        both = lambda: unification.alive() and streaming.alive()  # noqa: E731
        assert events_out.wait_for(expected_events, timeout=600, alive=both), (
            f"{len(events_out.values)}/{expected_events} events; see {tmp_path}"
        )
        deltas_out.poll_for(10)  # the deltas committed with the last events, and nothing more
        events_out.poll_for(1)
    finally:
        streaming.kill()
        unification.kill()
        deltas_out.close()
        events_out.close()

    assert len(events_out.values) == expected_events
    codec = AvroCodec()
    docs = fold([codec.decode(v) for v in deltas_out.values])
    users = {(d["tenant"], d["customer_id"]): d for (coll, _), d in docs.items() if coll == "users"}
    assert set(users) == set(expected)
    for key, want in expected.items():
        got = users[key]
        assert sorted(got.get("emails", [])) == sorted(want["emails"]), key
        assert sorted(got.get("anonymous_ids", [])) == sorted(want["anonymous_ids"]), key
        assert sorted(got.get("devices", [])) == sorted(want["devices"]), key
        assert got.get("attributes", {}) == want["attributes"], key
        assert got.get("counters", {}) == dict(want["counters"]), key
        assert (got["first_seen"], got["last_seen"]) == (want["first_seen"], want["last_seen"]), key
    devices = [d for (coll, _), d in docs.items() if coll == "devices"]
    assert len(devices) == len({(t, dev) for (t, _), u in expected.items() for dev in u["devices"]})
    log.info(
        f"{MESSAGES} messages -> {len(users)} users, {len(devices)} devices, {len(deltas_out.values)} deltas, "
        f"{len(events_out.values)} enriched events"
    )
