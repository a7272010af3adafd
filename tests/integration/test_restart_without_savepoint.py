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
import subprocess
import sys

import pytest
from confluent_kafka import Consumer, TopicPartition

from common.flink.checkpoints import restore_points
from common.flink.kafka import client_name
from common.flink.restore import job_groups, start_point
from common.topics import topic
from harness.jobs import RunningJob
from harness.kafka import Collector
from harness.models.identity_network import merge_heavy
from harness.routed import produce_routed, wait_for_documents, wanted

pytestmark = pytest.mark.integration

JOB = "action-streaming"


def test_killed_without_a_savepoint_the_plain_command_resumes_the_newest_checkpoint(isolated_env, tmp_path):
    env, settings = isolated_env
    actions = merge_heavy(seed=18, messages=1_600, users=400)
    part_a = actions[:800]
    want_a, want_all = wanted(part_a)[0], wanted(actions)[0]
    inputs = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "unified.actions"))
    deltas = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "state.deltas"))
    try:
        produce_routed(settings, part_a)
        job = RunningJob(JOB, env, tmp_path / "first.log")
        try:
            wait_for_documents(job, deltas, [], want_a)
            inputs.catch_up()
            while not inputs.consumed_by(client_name(settings, JOB)):  # a checkpoint covers all of part A
                assert job.alive(), f"see {job.log}"
                inputs.poll_for(1)
        finally:
            job.kill()  # SIGKILL: no savepoint
        assert "first start" in job.log.read_text()
        deltas.catch_up(idle=3)
        first = list(deltas.values)

        produce_routed(settings, actions[800:])
        job = RunningJob(JOB, env, tmp_path / "second.log")  # no --from-savepoint
        try:
            wait_for_documents(job, deltas, first, want_all)
        finally:
            job.kill()
        assert "resuming from its newest checkpoint" in job.log.read_text(), f"see {job.log}"
    finally:
        deltas.close()
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
