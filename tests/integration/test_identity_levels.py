"""action-streaming keyed by identifier (issue 16) on the real stack: the same documents at any
parallelism and after a replay from a savepoint, equal to the reference model.

A merge-heavy workload of one tenant (harness/models/identity_network.merge_heavy: 20k messages of 2k
users; logins, shared emails and phones, devices moving, conflicts, deletes, events up to 90 s late)
is produced to `hw.unified.actions` keyed by routing key, as api-unification will write it. The job's
deltas, folded as MongoDB applies them, must give exactly the live documents of the reference model,
and its identity profiles the same live profiles.
"""

import time

import pytest

from common.contracts.actions import action_record
from common.contracts.profiles import profile_from_record
from common.contracts.routing import routed, routing_key
from common.kafka.produce import send
from common.log import get_logger
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.jobs import RunningJob
from harness.kafka import Collector
from harness.models import mongo
from harness.models.identity_network import TIMING_FIELDS, merge_heavy, reference

log = get_logger(__name__)

pytestmark = pytest.mark.integration

MESSAGES, USERS = 20_000, 2_000
JOB = "action-streaming-levels"


def _produce(settings, actions) -> int:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True, "linger.ms": 5})
    codec, source, n = AvroCodec(), topic(settings.topic_prefix, "unified.actions"), 0
    for action in actions:
        for key, record in routed(action):
            value = codec.encode("unified_action", action_record(record, action.time_ms))
            send(producer, source, value, key=routing_key(action.tenant, key))
            n += 1
    assert producer.flush(60) == 0
    return n


def _live_documents(codec, values) -> dict:
    docs = mongo.fold([codec.decode(v) for v in values])
    return {key: {k: v for k, v in doc.items() if k not in TIMING_FIELDS} for key, doc in docs.items()}


def _wanted(actions):
    want = reference(actions, {"acme": 50})
    docs = {key: doc for key, doc in want.documents().items() if not doc.get("deleted")}
    profiles = {
        key: ids for key, (ids, merged_into, deleted) in want.profiles.items() if not merged_into and not deleted
    }
    return docs, profiles


def _wait_for_documents(job, codec, deltas: Collector, base: list[bytes], want: dict, timeout: float = 300) -> None:
    """Poll the deltas until `base` + what the job wrote since folds to `want` (or time runs out)."""
    deadline, got = time.monotonic() + timeout, {}
    start = len(deltas.values)
    while time.monotonic() < deadline and job.alive():
        deltas.poll_for(3)
        got = _live_documents(codec, base + deltas.values[start:])
        if got == want:
            return
    assert job.alive(), f"the job ended; see {job.log}"
    differ = [k for k in want if got.get(k) != want[k]]
    extra = [k for k in got if k not in want]
    first = differ[0] if differ else None
    raise AssertionError(
        f"{len(differ)} of {len(want)} documents differ or are missing, {len(extra)} extra; first {first}: "
        f"want {want.get(first)} got {got.get(first)}; see {job.log}"
    )


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
    return actions, _wanted(actions)


@pytest.mark.parametrize("parallelism", [1, 2, 4])
def test_the_same_documents_at_any_parallelism(isolated_env, tmp_path, workload, parallelism):
    env, settings = isolated_env
    actions, (want_docs, want_profiles) = workload
    codec = AvroCodec()
    deltas = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "state.deltas"))
    profiles = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "identity.profiles"))
    produced = _produce(settings, actions)
    started = time.monotonic()
    job = RunningJob(JOB, env, tmp_path / "job.log", "--parallelism", str(parallelism))
    try:
        _wait_for_documents(job, codec, deltas, [], want_docs)
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
    """Part A at parallelism 2, stopped with a savepoint; part B produced; then two runs from the
    savepoint at parallelism 1 (a rescale), as after a bad deploy: both end with the documents of
    the whole input."""
    env, settings = isolated_env
    actions, (want_docs, _profiles) = workload
    half = len(actions) // 2
    want_a, _ = _wanted(actions[:half])
    codec = AvroCodec()
    deltas = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "state.deltas"))
    try:
        _produce(settings, actions[:half])
        job = RunningJob(JOB, env, tmp_path / "part-a.log", "--parallelism", "2")
        try:
            _wait_for_documents(job, codec, deltas, [], want_a)
        finally:
            savepoint = job.stop_with_savepoint()
        deltas.catch_up(idle=3)
        part_a = list(deltas.values)
        _produce(settings, actions[half:])
        for attempt in ("replay-1", "replay-2"):
            job = RunningJob(JOB, env, tmp_path / f"{attempt}.log", "--from-savepoint", savepoint, "--parallelism", "1")
            try:
                _wait_for_documents(job, codec, deltas, part_a, want_docs)
            finally:
                job.kill()
    finally:
        deltas.close()
    log.info(f"savepoint {savepoint}: two replays of part B at another parallelism, {len(want_docs)} documents")
