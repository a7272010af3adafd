"""action-streaming keyed by identifier (issue 16) on the real stack: the same documents at any
parallelism and after a replay from a savepoint, equal to the reference model.

A merge-heavy workload of one tenant (harness/models/identity_network.merge_heavy: 20k messages of 2k
users; logins, shared emails and phones, devices moving, conflicts, deletes, events up to 90 s late)
is produced to `hw.unified.actions` keyed by routing key, as api-unification writes it. The job's
deltas, folded as MongoDB applies them, must give exactly the live documents of the reference model,
and its identity profiles the same live profiles.
"""

import time

import pytest

from common.contracts.profiles import profile_from_record
from common.log import get_logger
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.jobs import RunningJob
from harness.kafka import Collector
from harness.models.identity_network import merge_heavy
from harness.routed import produce_routed, wait_for_documents, wanted

log = get_logger(__name__)

pytestmark = pytest.mark.integration

MESSAGES, USERS = 20_000, 2_000
JOB = "action-streaming"
CAPS = {"acme": 50}


def _live_profiles(codec, values) -> dict:
    profiles = {}
    for value in values:
        if value is not None:
            record = codec.decode(value)
            user_id, ids = profile_from_record(record)
            profiles[f"{record['tenant']}:{user_id}"] = ids
    return {
        key: {f"{i.type}:{i.value}": i.first_seen_ms for i in ids.ids}
        for key, ids in profiles.items()
        if not ids.merged_into and not ids.deleted
    }


@pytest.fixture(scope="module")
def workload():
    actions = merge_heavy(seed=16, messages=MESSAGES, users=USERS)
    return actions, wanted(actions, CAPS)


# Parallelism 2 and 1 run in the replay test below (part A at 2, then the replay at 1, each ending with the
# model's documents): with this one the jobs cover 1, 2 and 4.
@pytest.mark.parametrize("parallelism", [4])
def test_the_same_documents_at_any_parallelism(isolated_env, tmp_path, workload, parallelism):
    env, settings = isolated_env
    actions, (want_docs, want_profiles) = workload
    codec = AvroCodec()
    deltas = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "state.deltas"))
    profiles = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "identity.profiles"))
    produced = produce_routed(settings, actions)
    started = time.monotonic()
    job = RunningJob(JOB, env, tmp_path / "job.log", "--parallelism", str(parallelism))
    try:
        wait_for_documents(job, deltas, [], want_docs)
        took = time.monotonic() - started
        profiles.catch_up(idle=3)
        assert _live_profiles(codec, profiles.values) == want_profiles
    finally:
        job.kill()
        deltas.close()
        profiles.close()
    log.info(
        f"parallelism {parallelism}: {len(actions)} messages ({produced} routed records) -> "
        f"{len(want_docs)} live documents as the model, in {took:.0f} s from the job's start"
    )


def test_a_replay_from_a_savepoint_gives_the_same_documents(isolated_env, tmp_path, workload):
    """Part A at parallelism 2, stopped with a savepoint; part B produced; then a run from the
    savepoint at parallelism 1 (a rescale), as after a bad deploy: it ends with the documents of the
    whole input. (test_cli_savepoint_replay.py replays with the commands a user runs.)"""
    env, settings = isolated_env
    actions, (want_docs, _profiles) = workload
    half = len(actions) // 2
    want_a, _ = wanted(actions[:half], CAPS)
    deltas = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "state.deltas"))
    try:
        produce_routed(settings, actions[:half])
        job = RunningJob(JOB, env, tmp_path / "part-a.log", "--parallelism", "2")
        try:
            wait_for_documents(job, deltas, [], want_a)
        finally:
            savepoint = job.stop_with_savepoint()
        deltas.catch_up(idle=3)
        part_a = list(deltas.values)
        produce_routed(settings, actions[half:])
        for attempt in ("replay",):
            job = RunningJob(JOB, env, tmp_path / f"{attempt}.log", "--from-savepoint", savepoint, "--parallelism", "1")
            try:
                wait_for_documents(job, deltas, part_a, want_docs)
            finally:
                job.kill()
    finally:
        deltas.close()
    log.info(f"savepoint {savepoint}: part B replayed at another parallelism, {len(want_docs)} documents")
