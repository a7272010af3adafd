"""action-streaming keyed by identifier (issue 16) on the real stack: the same documents at any
parallelism, equal to the reference model.

A merge-heavy workload of one tenant (harness/models/identity_network.merge_heavy: logins, shared
emails and phones, devices moving, conflicts, deletes, late events) is produced to
`hw.unified.actions` keyed by routing key, as api-unification will write it. The job's deltas, folded
as MongoDB applies them, must give exactly the live documents of the reference model, and its
identity profiles the same live profiles.
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

MESSAGES, USERS = 4_000, 400


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


def _live_documents(deltas: list[dict]) -> dict:
    docs = mongo.fold(deltas)
    return {key: {k: v for k, v in doc.items() if k not in TIMING_FIELDS} for key, doc in docs.items()}


def _live_profiles(codec, values) -> dict:
    profiles = {}
    for value in values:
        if value is None:
            continue
        record = codec.decode(value)
        user_id, ids = profile_from_record(record)
        profiles[f"{record['tenant']}:{user_id}"] = ids
    return {key: ids for key, ids in profiles.items() if not ids.merged_into and not ids.deleted}


@pytest.mark.parametrize("parallelism", [1, 2])
def test_the_same_documents_at_any_parallelism(isolated_env, tmp_path, parallelism):
    env, settings = isolated_env
    actions = merge_heavy(seed=16, messages=MESSAGES, users=USERS)
    want = reference(actions, {"acme": 50})
    want_docs = {k: v for k, v in want.documents().items() if not v.get("deleted")}
    codec = AvroCodec()
    deltas = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "state.deltas"))
    profiles = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "identity.profiles"))
    produced = _produce(settings, actions)
    job = RunningJob("action-streaming-levels", env, tmp_path / "job.log", "--parallelism", str(parallelism))
    try:
        deadline, got = time.monotonic() + 300, {}
        while time.monotonic() < deadline and job.alive():
            deltas.poll_for(3)
            got = _live_documents([codec.decode(v) for v in deltas.values])
            if got == want_docs:
                break
        assert job.alive(), f"the job ended; see {job.log}"
        missing = [k for k in want_docs if got.get(k) != want_docs[k]]
        extra = [k for k in got if k not in want_docs]
        assert got == want_docs, (
            f"{len(missing)} documents differ or are missing, {len(extra)} extra (of {len(want_docs)}); "
            f"first: {missing[:1]} want {want_docs.get(missing[0]) if missing else None} "
            f"got {got.get(missing[0]) if missing else None}; see {job.log}"
        )
        profiles.catch_up(idle=3)
        want_profiles = {
            key: ids for key, (ids, merged_into, deleted) in want.profiles.items() if not merged_into and not deleted
        }
        got_profiles = _live_profiles(codec, profiles.values)
        assert {key: {i.type + ":" + i.value: i.first_seen_ms for i in p.ids} for key, p in got_profiles.items()} == (
            want_profiles
        )
    finally:
        job.kill()
        deltas.close()
        profiles.close()
    log.info(f"parallelism {parallelism}: {produced} routed records, {len(want_docs)} live documents as the model")
