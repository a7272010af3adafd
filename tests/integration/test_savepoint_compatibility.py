"""Savepoints written by an earlier release restore into this code (tests/fixtures/savepoints/).

Each job is started from its fixture savepoint (made by commit 18163ca, release 0.1), then reads
records sent after it. (reaction-streaming's, action-streaming's and profile-dedupe's 0.1 savepoints
are refused instead, on purpose and in one line: CHANGELOG.md.) What it writes must follow from the
*restored* state: the same outputs as the pure rules run over the fixture's inputs and then these
records. A job that lost or
misread its state (a renamed state, a changed uid, a value that no longer unpickles) writes something
else, or fails to start.

The topics use the fixed prefix of the fixtures (the savepoints' Kafka sources name them), so the test
recreates them and produces the fixture's inputs again first: the restored offsets then point just
past those, and the job reads only the records sent here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from confluent_kafka import Producer
from pymongo import MongoClient

from common import config
from common.contracts.actions import action_from_record
from common.kafka.admin import admin_client, ensure_topics
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.jobs import RunningJob
from harness.kafka import Collector
from tests.fixtures.savepoints import inputs as fixture

pytestmark = pytest.mark.integration

FIXTURES = config.REPO_ROOT / "tests" / "fixtures" / "savepoints"
CODEC = AvroCodec()


@pytest.fixture
def fixture_topics(stack):
    """The fixtures' topics, empty, and their MongoDB database, dropped."""
    env = {
        "HEADWATER_TOPIC_PREFIX": fixture.PREFIX,
        "HEADWATER_CHECKPOINTS": f"s3://{config.DEFAULT_CHECKPOINT_BUCKET}/it-fixtures-{int(time.time())}",
        "HEADWATER_MONGO_DB": fixture.MONGO_DATABASE,
    }
    settings = config.load({**os.environ, **env})
    admin = admin_client(settings)
    names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(fixture.PREFIX)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result()
        deadline = time.monotonic() + 30
        while any(t.startswith(fixture.PREFIX) for t in admin.list_topics(timeout=10).topics):
            assert time.monotonic() < deadline, "deleted topics still listed after 30 s"
            time.sleep(0.5)
    ensure_topics(settings, partitions=2)
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(fixture.MONGO_DATABASE)
    return env, settings


def _send(settings, job: str, after: dict[str, list[bytes]]) -> None:
    """The fixture's inputs again, then `after`, all on partition 0 (see the module docstring)."""
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True})
    errors = []
    for records in (fixture.inputs(job, CODEC, int(time.time() * 1000)), after):
        for suffix, values in records.items():
            for key, value in fixture.keyed(suffix, values):
                producer.produce(
                    topic(settings.topic_prefix, suffix),
                    value,
                    key=key,
                    partition=0,
                    on_delivery=lambda err, _m: err and errors.append(err),
                )
    assert producer.flush(30) == 0 and not errors, errors


def _restore(job: str, env: dict, tmp_path) -> RunningJob:
    return RunningJob(job, env, tmp_path / f"{job}.log", "--from-savepoint", (FIXTURES / job).as_uri())


def _collect(settings, suffix: str, count: int, job: RunningJob, timeout: float = 120) -> Collector:
    collector = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, suffix))
    assert collector.wait_for(count, timeout=timeout, alive=job.alive), (
        f"{len(collector.values)}/{count} records on {suffix}; see {job.log}"
    )
    collector.poll_for(4)  # and nothing more (two checkpoints)
    return collector


def test_api_unification_restores_the_tenant_schema(fixture_topics, tmp_path):
    env, settings = fixture_topics
    now = int(time.time() * 1000)
    _send(settings, "api-unification", {"ingest.api": fixture.api_unification_after(now)})
    job = _restore("api-unification", env, tmp_path)
    try:
        actions = _collect(settings, "unified.actions", 2, job)
        got = {a.message_id: a.dropped for a in (action_from_record(CODEC.decode(v)) for v in actions.values)}
        # The restored schema knows fixture_plan as a string and n as a number: the new types are dropped.
        assert got == {"fix-api-3": ["attributes.fixture_plan"], "fix-api-4": ["event.properties.n"]}
    finally:
        job.kill()


@pytest.mark.parametrize(
    "job, operator",
    [
        # 0.2 places reaction-streaming's shards on other keys: pending deltas sit under the old keys
        ("reaction-streaming", "operator reaction-streaming-apply-deltas of reaction-streaming (state pending)"),
        # 0.3 keys action-streaming below the tenant: the tenant-keyed state has no place to go
        ("action-streaming", "of action-streaming (state "),
        # 0.3 keys profile-dedupe by buckets of (tenant, profile)
        ("profile-dedupe", "of profile-dedupe (state "),
    ],
)
def test_a_0_1_savepoint_that_no_longer_fits_is_refused_in_one_line(fixture_topics, job, operator):
    """A savepoint whose state the new topology cannot place must not restore (nor restart in a loop),
    and says so in one line naming the operator and its state."""
    env, _settings = fixture_topics
    savepoint = (FIXTURES / job).as_uri()
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "run", job, "--from-savepoint", savepoint],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("headwater: error:")]
    assert len(errors) == 1, done.stderr[-2000:]
    assert errors[0].startswith(f"headwater: error: savepoint {savepoint} does not fit {job}"), errors
    assert "CHANGELOG.md" in errors[0] and "Traceback" not in done.stderr
    assert operator in errors[0], errors
