"""Poison records on `hw.unified.actions` are refused, not crash-looped (issue 18, item 2).

Garbage bytes, a truncated header and a value of a writer schema nobody knows sit between valid
actions. action-streaming must refuse each to `hw.rejected` (INVALID_RECORD, with its bytes) and
process the actions after them: before, the key selector raised on the first one and the job restarted
every few seconds for ever, never reaching the next record.
"""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from common.contracts.actions import Action, Event, Identifiers, action_record
from common.contracts.routing import routing_key
from common.serde.avro import MAGIC, AvroCodec
from common.topics import topic
from harness.jobs import RunningJob
from harness.kafka import Collector

pytestmark = pytest.mark.integration

CODEC = AvroCodec()
POISON = [b"not avro at all", MAGIC + b"\x01\x02", MAGIC + b"\x00" * 8 + b"\x08acme"]


def _action(n: int) -> bytes:
    action = Action(
        "acme",
        "api",
        f"poison-{n}",
        "track",
        1_795_000_000_000,
        Identifiers(customer_id=f"c{n}"),
        events=[Event("viewed", 1_795_000_000_000, {"price": n})],
    )
    return CODEC.encode("unified_action", action_record(action, 1_795_000_000_000))


def _key(n: int) -> bytes:
    return routing_key("acme", f"customer_id:c{n}")


def test_poison_records_are_refused_and_the_job_goes_on(isolated_env, tmp_path):
    env, settings = isolated_env
    # Actions at their routing keys; poison under a key of no level (refused at the refusing level) and
    # under a real identifier's key (refused at that identifier's level).
    records = [
        (_key(1), _action(1)),
        (b"acme", POISON[0]),
        (_key(1), POISON[1]),
        (_key(2), _action(2)),
        (_key(3), POISON[2]),
        (_key(3), _action(3)),
    ]
    events = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "events.enriched"))
    rejected = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "rejected"))
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    for key, value in records:  # one partition: the poison sits between the actions
        producer.produce(topic(settings.topic_prefix, "unified.actions"), value, key=key, partition=0)
    assert producer.flush(30) == 0
    job = RunningJob("action-streaming", env, tmp_path / "job.log")
    try:
        assert events.wait_for(3, timeout=180, alive=job.alive), f"{len(events.values)}/3 events; see {job.log}"
        assert rejected.wait_for(3, timeout=60, alive=job.alive), f"{len(rejected.values)}/3 refusals"
        assert job.alive()
    finally:
        job.kill()
    assert sorted(CODEC.decode(v)["message_id"] for v in events.values) == ["poison-1", "poison-2", "poison-3"]
    refused = [CODEC.decode(v) for v in rejected.values]
    assert sorted(r["original"] for r in refused) == sorted(POISON)
    assert {(r["job"], r["reason"]) for r in refused} == {("action-streaming", "INVALID_RECORD")}
