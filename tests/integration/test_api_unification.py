"""api-unification on the real stack: 10k mixed records over all four sources, all accounted for.

Records are produced with fixed Kafka timestamps, so a pure reference run of the same rules
(jobs.api_unification: unify + TenantSchema) predicts every output exactly.
"""

import json
from collections import Counter

import pytest

from cli.synthetic import WRITE_KEYS, Generator
from common.contracts.actions import action_record
from common.contracts.routing import LINK, routed, routing_key
from common.contracts.tenants import load_registry
from common.kafka.produce import send
from common.log import get_logger
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.jobs import RunningJob
from harness.kafka import Collector
from jobs.api_unification.rejection_budget import shape
from jobs.api_unification.tenant_schema import TenantSchema
from jobs.api_unification.unify import unify

log = get_logger(__name__)

pytestmark = pytest.mark.integration

COUNTS = {"sdk": 3000, "api": 3000, "partner": 2500, "csv": 1500}


def _produce_with_timestamps(bootstrap, records):
    from confluent_kafka import Producer

    p = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5, "message.max.bytes": 2_000_000}
    )
    for topic_name, value, ts in records:
        send(p, topic_name, value, timestamp=ts)
    assert p.flush(60) == 0


def _reference(inputs, registry):
    """Expected routed records (by routing key and message id) and rejection records (by source,
    reason, path: how many, and how many parts they stand for), from the pure rules and the rejection
    budget."""
    schemas, actions, rejections = {}, {}, Counter()
    for source, raw, arrival in inputs:
        outcome = unify(source, raw, arrival, registry)
        for shaped in shape(outcome.rejections, raw):
            rejections[(source, shaped.rejection.reason.value, shaped.rejection.path, shaped.parts)] += 1
        if outcome.action is not None:
            more, _ = schemas.setdefault(outcome.tenant, TenantSchema()).admit(
                outcome.action, registry.get(outcome.tenant)
            )
            for shaped in shape(more, raw, original_sent=bool(outcome.rejections)):
                rejections[(source, shaped.rejection.reason.value, shaped.rejection.path, shaped.parts)] += 1
            for key, record in routed(outcome.action):  # the message at its home, a link at each other id
                actions[(routing_key(outcome.tenant, key), outcome.message_id)] = action_record(record, arrival)
    return actions, rejections


def test_ten_thousand_mixed_records_are_all_accounted_for(isolated_env, tmp_path):
    env, settings = isolated_env
    arrival = 1_795_000_000_000  # a fixed Kafka timestamp for every input record
    gen = Generator(seed=42, arrival_ms=arrival)
    inputs = [(source, gen.mixed(source), arrival) for source, n in COUNTS.items() for _ in range(n)]
    inputs.append(("sdk", _oversized_batch(arrival), arrival))  # 5,900 events over the limit: a few records
    gen.rng.shuffle(inputs)
    registry = load_registry()
    expected_actions, expected_rejections = _reference(inputs, registry)

    actions_out = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "unified.actions"))
    rejected_out = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "rejected"))
    job = RunningJob("api-unification", env, tmp_path / "job.log")
    try:
        _produce_with_timestamps(
            settings.kafka_bootstrap,
            [(topic(settings.topic_prefix, f"ingest.{source}"), raw, ts) for source, raw, ts in inputs],
        )
        total_rejections = sum(expected_rejections.values())
        assert actions_out.wait_for(len(expected_actions), timeout=300, alive=job.alive), (
            f"{len(actions_out.values)}/{len(expected_actions)} routed records; see {job.log}"
        )
        assert rejected_out.wait_for(total_rejections, timeout=60, alive=job.alive), (
            f"{len(rejected_out.values)}/{total_rejections} rejections; see {job.log}"
        )
        actions_out.poll_for(5)
        rejected_out.poll_for(1)
    finally:
        job.kill()
        actions_out.close()
        rejected_out.close()

    codec = AvroCodec()
    routed_got = {}
    for key, value in zip(actions_out.keys, actions_out.values):
        record = codec.decode(value)
        assert (key, record["message_id"]) not in routed_got, f"duplicate record {key} of {record['message_id']}"
        routed_got[(key, record["message_id"])] = record
    assert set(routed_got) == set(expected_actions)
    for where, expected in expected_actions.items():
        assert routed_got[where] == expected, where
    got = {r["message_id"]: r for r in routed_got.values() if r["kind"] != LINK}  # each message's home record

    got_rejections = Counter()
    for value in rejected_out.values:
        r = codec.decode(value)
        got_rejections[(r["source"], r["reason"], r["path"], r["parts"])] += 1
    assert got_rejections == expected_rejections
    rejected_bytes = sum(len(v) for v in rejected_out.values)
    assert rejected_bytes <= 2 * sum(len(raw) for _, raw, _ in inputs) + 8192 * len(inputs)

    # Accounting: every input is one action or one whole-message rejection; every event is kept or refused.
    whole = sum(n for (_, _, path, _), n in got_rejections.items() if path == "")
    assert len(got) + whole == len(inputs)
    events_in = sum(
        len(json.loads(raw).get("events", []))
        for source, raw, _ in inputs
        if source == "sdk" and unify(source, raw, arrival, registry).action is not None
    )
    sdk_events_out = sum(len(r["events"]) for r in got.values() if r["source"] == "sdk")
    event_rejections = sum(
        n * parts
        for (source, _, path, parts), n in got_rejections.items()
        if source == "sdk" and path.startswith("events[")
    )
    assert sdk_events_out + event_rejections == events_in
    assert event_rejections > 0, "the mix should hold batches with one bad event"
    reasons = {reason for (_, reason, _, _) in got_rejections}
    assert {
        "INVALID_JSON",
        "WRITE_KEY_REFUSED",
        "MISSING_IDENTIFIER",
        "UNSUPPORTED_TYPE",
        "PAYLOAD_TOO_LARGE",
        "TIMESTAMP_INVALID",
        "TIMESTAMP_OUT_OF_RANGE",
        "MISSING_FIELD",
    } <= reasons
    log.info(
        f"inputs {len(inputs)}: actions {len(got)}, rejections {sum(got_rejections.values())} "
        f"({whole} whole messages, {event_rejections} single events of partly accepted batches), "
        f"reasons {sorted(reasons)}; {rejected_bytes:,} bytes on hw.rejected"
    )


def _oversized_batch(arrival: int) -> bytes:
    events = [{"name": f"e{i % 10}", "time": arrival} for i in range(6_000)]
    doc = {
        "tenant": "acme",
        "write_key": WRITE_KEYS["acme"],
        "message_id": "oversized-batch",
        "user": {"customer_id": "c-big"},
        "events": events,
    }
    return json.dumps(doc, separators=(",", ":")).encode()
