"""api-unification on the local cluster (`headwater cluster up`) spreads one tenant over every subtask.

2,000 SDK batches of 10 events from 5,000 users of one tenant, at parallelism 2: each subtask of the
schema gate (keyed by user) must read 35-65% of them (Flink's read-records, from the REST API), and
what comes out is what one schema applied in order gives (the generator's types never conflict, so the
order does not matter): every message with its links, as the rules encode them, and no refusal. The TaskManagers'
Prometheus endpoints count the same messages.

The TaskManagers run as on another host (tests/integration/conftest.py, `local_cluster`): PyFlink's
Python without Headwater's dependencies, a working directory outside the checkout, no PYTHONPATH. So
the job ran the code and the pinned dependencies `submit` shipped with it (common/flink/shipping.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from cli.synthetic import Generator
from common.config import REPO_ROOT
from common.contracts.actions import action_record
from common.contracts.routing import routed
from common.contracts.tenants import load_registry
from common.kafka.produce import send
from common.serde.avro import AvroCodec
from common.topics import topic
from harness import prometheus
from harness.jobs import SubmittedJob
from harness.kafka import Collector
from harness.routed import messages_in, wait_for_messages
from infra.stack import flink_cluster
from jobs.api_unification.tenant_schema import TenantSchema
from jobs.api_unification.unify import unify

pytestmark = pytest.mark.integration

BATCHES = 2_000
SHIPPED_MODULES = ("pydantic", "phonenumbers", "rocksdict", "confluent_kafka")


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
    want, records = {}, 0
    for raw in inputs:
        outcome = unify("sdk", raw, arrival, registry)
        assert outcome.action is not None and not schema.admit(outcome.action, registry.get("bench"))[0]
        want[outcome.message_id] = action_record(outcome.action, arrival)
        records += len(routed(outcome.action))  # the message and a link at each of its other identifiers

    actions = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "unified.actions"))
    rejected = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "rejected"))
    job = SubmittedJob("api-unification", env, tmp_path / "p2.log", "--parallelism", "2")
    try:
        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
        for raw in inputs:
            send(producer, topic(settings.topic_prefix, "ingest.sdk"), raw, timestamp=arrival)
        assert producer.flush(60) == 0
        messages = wait_for_messages(actions, BATCHES, timeout=240, alive=job.alive)
        assert len(messages) == BATCHES, f"{len(messages)}/{BATCHES} messages"
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
    actions.catch_up(idle=2)
    assert messages_in(codec, actions.values) == want
    assert len(actions.values) == records
    rejected.poll_for(2)
    assert rejected.values == []
    _assert_the_code_came_with_the_job(settings, local_cluster)


def _assert_the_code_came_with_the_job(settings, rest: str) -> None:
    """The TaskManagers could not have imported the code or its dependencies from anywhere but the
    archives the job brought: their interpreter lacks them, and their Python path holds the archives."""
    python = settings.cluster_python
    assert python is not None, "the session's cluster must run HEADWATER_CLUSTER_PYTHON (conftest.local_cluster)"
    for module in ("common", "jobs", *SHIPPED_MODULES):
        found = subprocess.run([python, "-c", f"import {module}"], cwd="/", capture_output=True)
        assert found.returncode != 0, f"the TaskManagers' Python imports {module} by itself"
    taskmanagers = [(pid, log) for _name, pid, log in flink_cluster.processes(settings) if "taskmanager" in log.name]
    assert taskmanagers and all(pid for pid, _log in taskmanagers), taskmanagers
    for index, (pid, log) in enumerate(taskmanagers, start=1):
        environ = dict(
            line.split("=", 1) for line in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in line
        )
        assert environ.get("PYTHONPATH", "") == "" and Path(f"/proc/{pid}/cwd").resolve() != REPO_ROOT
        paths = re.findall(r"PYTHONPATH of python worker: (\S+)", log.read_text(errors="replace"))
        assert paths, f"{log} names no Python path of a job"
        entries = paths[-1].split(":")
        assert any("/code-" in e for e in entries) and any("/dependencies-" in e for e in entries), entries
        assert not any(e.startswith(str(REPO_ROOT)) and "/.data/" not in e for e in entries), entries
        # unpacked in the TaskManager's own temporary folder, which `cluster up` empties (temp_dirs.py)
        temp = str(settings.data_dir / "flink" / f"taskmanager-{index}" / "tmp") + "/python-dist-"
        assert all(e.startswith(temp) for e in entries if "/code-" in e or "/dependencies-" in e), entries
