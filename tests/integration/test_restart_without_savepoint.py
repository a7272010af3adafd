"""A job started again without a savepoint resumes its newest checkpoint; it never starts empty over
progress (issue 18, item 1).

Before, `headwater run action-streaming` after a `kill -9` resumed its consumer group's committed offsets
with empty state: every known customer was created again under a new id. Now the plain command restores
the newest retained checkpoint, so what it writes for the next part of the input is exactly what the
pure rules give after the first part. With no checkpoint left but committed offsets, it refuses to start
with one line naming `--reset`; `--reset` starts empty on purpose and says so.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from common.flink.checkpoints import restore_points
from common.flink.kafka import client_name
from common.flink.restore import job_groups, start_point
from common.kafka.produce import send
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.jobs import RunningJob
from harness.kafka import Collector
from harness.models.action import count, expected_outputs, mixed_action
from jobs.api_unification.records import encode_action
from tests.integration.test_action_replay import TENANTS, USERS, _Outputs

pytestmark = pytest.mark.integration

JOB = "action-streaming"


def _produce(settings, part) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True, "linger.ms": 5})
    codec, source = AvroCodec(), topic(settings.topic_prefix, "unified.actions")
    for a in part:
        key, value = encode_action(codec, a, a.time_ms)
        send(producer, source, value, key=key)
    assert producer.flush(60) == 0


def test_killed_without_a_savepoint_the_plain_command_resumes_the_newest_checkpoint(isolated_env, tmp_path):
    env, settings = isolated_env
    rng = random.Random(18)
    part_a = [mixed_action(rng, seq, TENANTS, USERS) for seq in range(800)]
    part_b = [mixed_action(rng, seq, TENANTS, USERS) for seq in range(800, 1_600)]
    want_a, want_b = expected_outputs([part_a, part_b])
    inputs = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "unified.actions"))
    outputs = _Outputs(settings)
    try:
        _produce(settings, part_a)
        job = RunningJob(JOB, env, tmp_path / "first.log")
        try:
            outputs.wait_for_events(count(want_a, "events.enriched"), job)
            inputs.catch_up()
            while not inputs.consumed_by(client_name(settings, JOB)):  # a checkpoint covers all of part A
                assert job.alive(), f"see {job.log}"
                inputs.poll_for(1)
        finally:
            job.kill()  # SIGKILL: no savepoint
        assert "first start" in job.log.read_text()
        assert outputs.take() == want_a

        _produce(settings, part_b)
        job = RunningJob(JOB, env, tmp_path / "second.log")  # no --from-savepoint
        try:
            outputs.wait_for_events(count(want_b, "events.enriched"), job)
        finally:
            job.kill()
        assert "resuming from its newest checkpoint" in job.log.read_text(), f"see {job.log}"
        assert outputs.take() == want_b, "the restarted job did not continue from its state"
    finally:
        outputs.close()
        inputs.close()

    # --reset: the groups go, the retained checkpoints are no longer resumed by default
    assert restore_points(settings, JOB) and job_groups(settings, JOB)
    said = []
    assert start_point(settings, JOB, reset_state=True, start_from_ms=None, say=said.append) is None
    assert "empty state" in said[0] and client_name(settings, JOB) in said[0]
    assert not job_groups(settings, JOB) and not restore_points(settings, JOB)
    assert start_point(settings, JOB, reset_state=False, start_from_ms=None, say=said.append) is None
    assert "first start" in said[-1]


def test_committed_offsets_without_a_checkpoint_refuse_to_start_with_one_line(isolated_env):
    env, settings = isolated_env
    source = topic(settings.topic_prefix, "unified.actions")
    group = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": client_name(settings, JOB)})
    group.commit(offsets=[TopicPartition(source, 0, 5)], asynchronous=False)
    group.close()
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "run", JOB], env={**os.environ, **env}, capture_output=True, text=True
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode != 0
    assert len(lines) == 1 and "--reset" in lines[0] and client_name(settings, JOB) in lines[0], lines
    refused = subprocess.run(
        [sys.executable, "-m", "cli.main", "run", JOB, "--reset-to", "2026-11-30T00:00:00Z"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "only goes with --reset" in refused.stdout + refused.stderr


def test_missing_topics_refuse_to_start_with_one_line(stack):
    """Without its topics a job's sources fail and Flink restarts it for ever: refused before it starts."""
    env = {"HEADWATER_TOPIC_PREFIX": "never-created."}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "run", JOB], env={**os.environ, **env}, capture_output=True, text=True
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode != 0 and len(lines) == 1, lines
    assert "never-created.ingest.sdk" in lines[0] and "headwater up" in lines[0], lines[0]
