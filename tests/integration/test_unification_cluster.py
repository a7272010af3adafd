"""api-unification on the local cluster (`headwater cluster up`) spreads one tenant over every subtask.

2,000 SDK batches of 10 events from 5,000 users of one tenant, at parallelism 2: each subtask of the
schema gate (keyed by user) must read 35-65% of them (Flink's read-records, from the REST API), and
what comes out is what one schema applied in order gives (the generator's types never conflict, so the
order does not matter): every action, as the rules encode it, and no refusal. The TaskManagers'
Prometheus endpoints count the same messages.
"""

from __future__ import annotations

import json
import time

import pytest

from cli.synthetic import Generator
from common.contracts.actions import action_record
from common.contracts.tenants import load_registry
from common.kafka.produce import send
from common.serde.avro import AvroCodec
from common.topics import topic
from harness import prometheus
from harness.jobs import SubmittedJob
from harness.kafka import Collector
from jobs.api_unification.tenant_schema import TenantSchema
from jobs.api_unification.unify import unify

pytestmark = pytest.mark.integration

BATCHES = 2_000


def _scraped_messages(settings) -> float:
    samples = prometheus.job_samples(settings.metrics_ports, settings.topic_prefix)
    return prometheus.total(samples, "flink_taskmanager_job_task_operator_messages_sdk")


@pytest.mark.timeout(600)
def test_one_tenant_spreads_over_both_subtasks_of_the_gate(isolated_env, local_cluster, tmp_path):
    from confluent_kafka import Producer

    env, settings = isolated_env
    arrival = int(time.time() * 1000)
    generator = Generator(seed=5, arrival_ms=arrival, users=5_000, tenants=("bench",))
    inputs = [json.dumps(generator.sdk(10)).encode() for _ in range(BATCHES)]
    registry, schema, codec = load_registry(), TenantSchema(), AvroCodec()
    want = {}
    for raw in inputs:
        outcome = unify("sdk", raw, arrival, registry)
        assert outcome.action is not None and not schema.admit(outcome.action, registry.get("bench"))[0]
        want[outcome.message_id] = action_record(outcome.action, arrival)

    actions = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "unified.actions"))
    rejected = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "rejected"))
    job = SubmittedJob("api-unification", env, tmp_path / "p2.log", "--parallelism", "2")
    try:
        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
        for raw in inputs:
            send(producer, topic(settings.topic_prefix, "ingest.sdk"), raw, timestamp=arrival)
        assert producer.flush(60) == 0
        assert actions.wait_for(BATCHES, timeout=240, alive=job.alive), f"{len(actions.values)}/{BATCHES} actions"
        # Flink's metrics trail the records by a few seconds, and a busy TaskManager's metrics can miss
        # several fetches in a row (one CI run saw one subtask at 0 for a minute while it had worked).
        deadline = time.monotonic() + 180
        while sum(per_subtask := job.flink.records_in_per_subtask(job.job_id, "schema gate")) < BATCHES:
            assert time.monotonic() < deadline, f"the gate read {per_subtask} of {BATCHES}"
            time.sleep(1)
        # The same counts reach Prometheus from each TaskManager's endpoint (docs/metrics.md).
        while (scraped := _scraped_messages(settings)) < BATCHES:
            assert time.monotonic() < deadline, f"Prometheus shows {scraped} of {BATCHES} messages"
            time.sleep(1)
    finally:
        job.kill()
    shares = [n / sum(per_subtask) for n in per_subtask]
    assert len(shares) == 2 and all(0.35 <= s <= 0.65 for s in shares), f"the gate's subtasks read {per_subtask}"
    got = {record["message_id"]: record for record in map(codec.decode, actions.values)}
    assert got == want
    rejected.poll_for(2)
    assert rejected.values == []
