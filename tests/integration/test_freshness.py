"""Freshness, ingest to MongoDB (docs/metrics.md): every hop carries the ingest record's Kafka
timestamp, and each job's `freshness_*` gauges say how old the data was when it handled it.

api-unification, action-streaming and reaction-streaming run on MiniClusters. After a warm-up wave (the
jobs' start is not part of freshness), 300 SDK batches are produced, each with its own ingest
timestamp. Then: every action, delta, enriched event and profile on the topics has the timestamp of the
ingest record it came from, and reaction-streaming's gauges, taken when MongoDB acknowledged the
writes, show ages of seconds, not of the run. `headwater trace` follows one message from its ingest
record to the MongoDB document that holds its delta, and finds a refused one with its reason.
"""

from __future__ import annotations

import json
import time

import pytest

from cli.synthetic import Generator
from common.kafka.produce import send
from common.kafka.snapshot import messages_to_end
from common.log import get_logger
from common.serde.avro import AvroCodec
from common.topics import topic
from harness import prometheus
from harness.jobs import RunningJob, run_headwater
from harness.kafka import Collector

log = get_logger(__name__)

pytestmark = pytest.mark.integration

WARM_UP, BATCHES = 20, 300
OPERATOR = "flink_taskmanager_job_task_operator_"
JOBS = ("api-unification", "action-streaming", "reaction-streaming")
TRAIL = ("ingest record", "action", "delta", "enriched event", "holds v")


def _send_raw(settings, value: bytes) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    send(producer, topic(settings.topic_prefix, "ingest.sdk"), value)
    assert producer.flush(30) == 0


def _produce(settings, generator, count: int) -> dict[str, int]:
    """`count` SDK batches, each with its own Kafka timestamp; message id -> that timestamp."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
    sent = {}
    for _ in range(count):
        batch = generator.sdk(5)
        stamp = int(time.time() * 1000)
        send(producer, topic(settings.topic_prefix, "ingest.sdk"), json.dumps(batch).encode(), timestamp=stamp)
        sent[batch["message_id"]] = stamp
        time.sleep(0.002)  # distinct timestamps
    assert producer.flush(60) == 0
    return sent


@pytest.mark.timeout(600)
def test_every_hop_carries_the_ingest_time_and_reaction_streaming_reports_seconds(isolated_env, tmp_path):
    env, settings = isolated_env
    generator = Generator(seed=23, arrival_ms=int(time.time() * 1000), users=100, tenants=("acme",))
    deltas = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "state.deltas"))
    jobs = [RunningJob(name, env, tmp_path / f"{name}.log") for name in JOBS]
    try:
        sent = _produce(settings, generator, WARM_UP)
        alive = lambda: all(job.alive() for job in jobs)  # noqa: E731
        assert deltas.wait_for(1, timeout=240, alive=alive), "no delta from the warm-up"
        sent.update(_produce(settings, generator, BATCHES))
        last_id = list(sent)[-1]
        forged = {**generator.sdk(2), "message_id": "sdk-refused-1", "write_key": "wk_not_a_key"}
        _send_raw(settings, json.dumps(forged).encode())
        # Every message has reached state.deltas, and reaction-streaming has written all of them.
        codec, carried, decoded = AvroCodec(), set(), 0
        deadline = time.monotonic() + 180
        while True:
            deltas.poll_for(1)
            carried.update(codec.decode(v)["message_id"] for v in deltas.values[decoded:])
            decoded = len(deltas.values)
            samples = prometheus.job_samples(settings.metrics_ports, settings.topic_prefix)
            ours = [s for s in samples if s.labels.get("job_name") == "headwater_reaction_streaming"]
            written = sum(s.value for s in ours if s.name == OPERATOR + "deltas")
            if set(sent) <= carried and written >= decoded:
                break
            assert alive() and time.monotonic() < deadline, (
                f"{len(set(sent) - carried)} messages without deltas; reaction-streaming wrote {written}/{decoded}"
            )
        reaction = {s.name.removeprefix(OPERATOR): s.value for s in ours if "freshness" in s.name}
        # `headwater trace` follows one message from its ingest record to the MongoDB document.
        for _ in range(30):  # the write's acknowledgement and the document read are a moment apart
            traced = run_headwater(env, "trace", "--tenant", "acme", "--message-id", last_id)
            if "holds v" in traced.stdout:
                break
            time.sleep(1)
        refused = run_headwater(env, "trace", "--tenant", "acme", "--message-id", "sdk-refused-1")
    finally:
        for job in jobs:
            job.kill()
    assert traced.returncode == 0, traced.stderr
    trail = traced.stdout.splitlines()
    kinds = [next((k for k in TRAIL if k in line), None) for line in trail]
    assert kinds[:2] == ["ingest record", "action"] and {"delta", "enriched event"} <= set(kinds), trail
    assert kinds[-1] == "holds v" and "mongodb" in trail[-1], trail
    assert refused.returncode == 0 and "WRITE_KEY_REFUSED" in refused.stdout, refused.stdout + refused.stderr

    # Every output of a message has its ingest record's timestamp.
    outputs = ("unified.actions", "state.deltas", "events.enriched", "identity.profiles")
    seen = 0
    for message in messages_to_end(settings, [topic(settings.topic_prefix, name) for name in outputs]):
        if message.value() is None:
            continue
        record = codec.decode(message.value())
        message_id = record.get("message_id") or record.get("source_message_id")
        if message_id in sent:
            assert message.timestamp()[1] == sent[message_id], (message.topic(), message_id)
            seen += 1
    assert seen >= BATCHES

    # Taken at MongoDB's acknowledgement, after the warm-up: ages of seconds (two checkpoint hops of
    # 2 s and a flush), not the minutes the run took.
    log.info(f"reaction-streaming, ingest to MongoDB: {reaction}")
    assert set(reaction) >= {"freshness_p50_ms", "freshness_p99_ms", "freshness_max_ms"}, reaction
    assert 0 < reaction["freshness_p50_ms"] <= reaction["freshness_p99_ms"] <= reaction["freshness_max_ms"]
    assert reaction["freshness_p50_ms"] < 30_000, reaction
