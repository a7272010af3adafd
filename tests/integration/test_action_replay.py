"""Replay from a savepoint: action-streaming writes byte-identical records, equal to the pure rules.

Part A of the input runs; `headwater run` is stopped with a savepoint (SIGTERM, as a user's Ctrl-C).
Part B is produced, and the job runs from the savepoint twice, as after a bad deploy. Both runs write,
per output topic and key, exactly the bytes that the pure rules (process_action over in-memory state,
then the same encoders) give for part B after part A — and part A's outputs are checked the same way.
The input mixes anonymous visitors, logins that merge users, devices moving between users, and deletes.
"""

import random
from collections import defaultdict

import pytest

from common.kafka.produce import send
from common.log import get_logger
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.jobs import RunningJob
from harness.kafka import Collector
from harness.models.action import count, expected_outputs, mixed_action
from jobs.action_streaming.job import OUTPUTS
from jobs.api_unification.records import encode_action

log = get_logger(__name__)

pytestmark = pytest.mark.integration

TENANTS, USERS, PER_PART = ("acme", "globex"), 400, 3_000


class _Outputs:
    """read_committed collectors on the job's three output topics, from their current end."""

    def __init__(self, settings):
        self.collectors = {
            suffix: Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, suffix)) for suffix in OUTPUTS
        }
        self.seen = {suffix: 0 for suffix in OUTPUTS}

    def wait_for_events(self, count: int, job: RunningJob, timeout: float = 300) -> None:
        events = self.collectors["events.enriched"]
        assert events.wait_for(self.seen["events.enriched"] + count, timeout, alive=job.alive), (
            f"{len(events.values) - self.seen['events.enriched']}/{count} events; see {job.log}"
        )
        for c in self.collectors.values():
            c.catch_up(idle=3)

    def take(self) -> dict:
        """Records read since the last take, as (topic suffix, key) -> values in order."""
        records = defaultdict(list)
        for suffix, c in self.collectors.items():
            for key, value in zip(c.keys[self.seen[suffix] :], c.values[self.seen[suffix] :]):
                records[(suffix, key)].append(value)
            self.seen[suffix] = len(c.values)
        return dict(records)

    def close(self):
        for c in self.collectors.values():
            c.close()


def test_replay_from_a_savepoint_writes_byte_identical_records(isolated_env, tmp_path):
    env, settings = isolated_env
    rng = random.Random(4)
    part_a = [mixed_action(rng, seq, TENANTS, USERS) for seq in range(PER_PART)]
    part_b = [mixed_action(rng, seq, TENANTS, USERS) for seq in range(PER_PART, 2 * PER_PART)]
    want_a, want_b = expected_outputs([part_a, part_b])

    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True, "linger.ms": 5})
    codec, source = AvroCodec(), topic(settings.topic_prefix, "unified.actions")

    def produce(part):
        for a in part:
            key, value = encode_action(codec, a, a.time_ms)
            send(producer, source, value, key=key)
        assert producer.flush(60) == 0

    outputs = _Outputs(settings)
    try:
        produce(part_a)
        job = RunningJob("action-streaming", env, tmp_path / "part-a.log")
        try:
            outputs.wait_for_events(count(want_a, "events.enriched"), job)
        finally:
            savepoint = job.stop_with_savepoint()
        got_a = outputs.take()
        assert got_a == want_a

        produce(part_b)
        runs = []
        for attempt in ("replay-1", "replay-2"):
            job = RunningJob("action-streaming", env, tmp_path / f"{attempt}.log", "--from-savepoint", savepoint)
            try:
                outputs.wait_for_events(count(want_b, "events.enriched"), job)
            finally:
                job.kill()
            runs.append(outputs.take())
    finally:
        outputs.close()

    assert runs[0] == want_b, "the first run from the savepoint differs from the pure rules"
    assert runs[1] == runs[0], "a second replay from the same savepoint wrote different records"
    counts = {suffix: count(want_b, suffix) for suffix in OUTPUTS}
    assert all(counts.values()), counts
    log.info(f"savepoint {savepoint}; part B replayed twice, byte-identical: {counts}")
