"""`headwater savepoint` and `headwater replay`, run as a user runs them, on the local cluster.

action-streaming runs part A of a merge-heavy input; `headwater savepoint action-streaming` takes a
savepoint and the job keeps running; part B follows. `headwater replay action-streaming
--from-savepoint PATH` then replaces the running job: the replay reads part B again and writes, record
for record, the same enriched events a second time (a replay's outputs are byte-identical:
docs/operations.md), and nothing else.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from confluent_kafka import Producer

from common.flink.cluster import FlinkCluster
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.jobs import SubmittedJob, headwater_ok
from harness.kafka import Collector
from harness.models.action import count, expected_outputs, mixed_action
from jobs.api_unification.records import encode_action

pytestmark = pytest.mark.integration

CODEC = AvroCodec()


def _headwater(env: dict, *args: str) -> str:
    done = headwater_ok(env, *args)
    return done.stdout


def _produce(settings, actions) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True})
    for action in actions:
        key, value = encode_action(CODEC, action, action.time_ms)
        producer.produce(topic(settings.topic_prefix, "unified.actions"), value, key=key)
    assert producer.flush(30) == 0


def test_a_savepoint_taken_by_the_cli_replays_part_b_byte_for_byte(isolated_env, local_cluster, tmp_path):
    env, settings = isolated_env
    env = {**env, "HEADWATER_FLINK": local_cluster}
    rng = random.Random(19)
    part_a = [mixed_action(rng, seq, ("acme",), 80) for seq in range(400)]
    part_b = [mixed_action(rng, seq, ("acme",), 80) for seq in range(400, 800)]
    want_a, want_b = expected_outputs([part_a, part_b])
    events_a, events_b = count(want_a, "events.enriched"), count(want_b, "events.enriched")
    events = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "events.enriched"))
    flink = FlinkCluster(local_cluster)
    _produce(settings, part_a)
    job = SubmittedJob("action-streaming", env, tmp_path / "submit.log")
    try:
        assert events.wait_for(events_a, timeout=180), f"{len(events.values)}/{events_a} events of part A"
        said = _headwater(env, "savepoint", "action-streaming")
        savepoint = next(line for line in said.splitlines() if line.startswith("savepoint: ")).split()[1]
        assert flink.active_job("action-streaming").job_id == job.job_id  # it keeps running
        _produce(settings, part_b)
        assert events.wait_for(events_a + events_b, timeout=180), f"{len(events.values)} events after part B"
        _headwater(env, "replay", "action-streaming", "--from-savepoint", savepoint)
        replayed = flink.active_job("action-streaming").job_id
        assert replayed != job.job_id
        assert events.wait_for(events_a + 2 * events_b, timeout=180), f"{len(events.values)} events after the replay"
        events.poll_for(3)  # and nothing more
    finally:
        active = flink.find_active("action-streaming")
        if active is not None:
            flink.cancel(active.job_id)
        events.close()
    got = list(zip(events.keys, events.values))
    first, again = got[: events_a + events_b], got[events_a + events_b :]
    want = Counter(
        (key, value) for (suffix, key), values in want_b.items() if suffix == "events.enriched" for value in values
    )
    assert Counter(again) == want, "the replay wrote other events than part B's"
    assert (
        Counter(first) - Counter((k, v) for (s, k), vs in want_a.items() if s == "events.enriched" for v in vs) == want
    )
