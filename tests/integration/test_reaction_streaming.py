"""reaction-streaming on the real stack: deltas -> FerretDB, equal to applying them one by one.

40k deltas for 4k entities (users and devices), with duplicates and stale retries mixed in, give
exactly the documents (tombstones included) that applying every delta once, in order, gives
(harness/models/mongo.py). Sending a quarter of the input again (drawn from all of it) changes
nothing: every write of the second pass is stale. Another test sends a write MongoDB refuses and a
record that is no delta, and finds both on hw.rejected. (FerretDB stopped mid-run: test_reaction_cluster
stops it past the checkpoint timeout under load, and test_chaos stops it too.)
"""

import os
import random
import subprocess
import sys
import time

import pytest
from pymongo import MongoClient

from common.flink.kafka import client_name
from common.kafka.produce import send
from common.log import get_logger
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.deltas import entity_deltas, interleave
from harness.deltas import produce as produce_deltas
from harness.jobs import RunningJob
from harness.kafka import Collector
from harness.models.mongo import fold
from jobs.reaction_streaming.report import parse_reports

log = get_logger(__name__)

pytestmark = pytest.mark.integration


def _stream(seed: int, entities: int, per_entity: int):
    rng = random.Random(seed)
    streams = [
        entity_deltas(rng, ("acme", "globex")[e % 2], e, rng.randint(1, 2 * per_entity - 1)) for e in range(entities)
    ]
    return streams, interleave(rng, streams)


def _last_report(job: RunningJob) -> dict | None:
    reports = parse_reports(job.log.read_text(errors="replace"))
    return reports[-1] if reports else None


def _wait_for_deltas(job: RunningJob, count: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and job.alive():
        report = _last_report(job)
        if report and report["deltas"] >= count:
            return report
        time.sleep(1)
    raise AssertionError(f"job did not report {count} deltas (last: {_last_report(job)}); see {job.log}")


def _documents(settings) -> dict:
    db = MongoClient(settings.mongo_uri)[settings.mongo_database]
    docs = {}
    for collection in ("users", "devices"):
        for doc in db[collection].find():
            docs[(collection, doc.pop("_id"))] = doc
    return docs


@pytest.mark.timeout(1200)  # 85k deltas through FerretDB, the slowest part of the stack
def test_documents_equal_applying_every_delta_once_and_a_second_pass_changes_nothing(isolated_env, tmp_path):
    env, settings = isolated_env
    env = {**env, "HEADWATER_REACTION_MAX_DELAY_MS": "4000"}  # a backlog: larger batches, more coalescing
    streams, sent = _stream(seed=5, entities=4_000, per_entity=10)
    expected = fold([d for s in streams for d in s], tombstones=True)
    assert len(sent) >= 40_000, len(sent)
    produce_deltas(settings, sent)
    job = RunningJob("reaction-streaming", env, tmp_path / "reaction.log")
    try:
        first = _wait_for_deltas(job, len(sent), timeout=900)
        assert first["refused"] == 0 and first["applied"] + first["stale"] == first["writes"]
        assert _documents(settings) == expected

        again = random.Random(6).sample(sent, len(sent) // 4)  # a quarter of the same input again
        produce_deltas(settings, again)
        second = _wait_for_deltas(job, len(sent) + len(again), timeout=900)
    finally:
        job.kill()
    assert second["applied"] == first["applied"], "the second pass modified documents"
    assert second["refused"] == 0
    assert _documents(settings) == expected
    log.info(
        f"{len(sent)} deltas -> {first['writes']} writes ({len(sent) / first['writes']:.2f}x), "
        f"{len(expected)} documents; {len(again)} again: {second['stale'] - first['stale']} stale writes, 0 applied"
    )


def test_a_refused_write_and_an_undecodable_record_go_to_rejected_and_hold_up_nothing(isolated_env, tmp_path):
    env, settings = isolated_env
    base = {"tenant": "acme", "collection": "users", "delete": False, "unset": [], "add_to_set": {}, "pull": {}}
    deltas = [
        {**base, "doc_id": "acme:bad", "version": 1, "message_id": "m1", "set": {"version": 1, "name": "x"}},
        # $addToSet on a string: MongoDB refuses it, retrying cannot help
        {
            **base,
            "doc_id": "acme:bad",
            "version": 2,
            "message_id": "m2",
            "set": {"version": 2},
            "add_to_set": {"name": ["y"]},
        },
        {**base, "doc_id": "acme:good", "version": 1, "message_id": "m3", "set": {"version": 1, "name": "ok"}},
    ]
    produce_deltas(settings, deltas)
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    send(p, topic(settings.topic_prefix, "state.deltas"), b"not a state delta", key=b"x")
    assert p.flush(30) == 0
    rejected = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "rejected"))
    job = RunningJob("reaction-streaming", env, tmp_path / "reaction.log")
    try:
        assert rejected.wait_for(2, timeout=180, alive=job.alive), f"see {job.log}"
        report = _wait_for_deltas(job, 3, timeout=60)
        codec = AvroCodec()
        reasons = sorted((r["reason"], r["message_id"]) for r in map(codec.decode, rejected.values))
        assert reasons == [("INVALID_DELTA", None), ("WRITE_REFUSED", "m2")]
        assert report["refused"] == 1
        docs = _documents(settings)
        assert docs[("users", "acme:good")] == {"version": 1, "name": "ok", "last_message_id": "m3"}
        assert docs[("users", "acme:bad")] == {"version": 1, "name": "x", "last_message_id": "m1"}

        # The document is parked (issue 18, item 4): its next delta waits for the refused one.
        later = {**base, "doc_id": "acme:bad", "version": 3, "message_id": "m4", "set": {"version": 3, "plan": "pro"}}
        produce_deltas(settings, [later])
        inputs = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "state.deltas"))
        inputs.catch_up()
        deadline = time.monotonic() + 60
        while not inputs.consumed_by(client_name(settings, "reaction-streaming")):  # read, and checkpointed
            assert time.monotonic() < deadline and job.alive(), f"see {job.log}"
            time.sleep(1)
        inputs.close()
        time.sleep(2)  # past a flush
        held = _documents(settings)[("users", "acme:bad")]
        assert held == {"version": 1, "name": "x", "last_message_id": "m1"}, "written out of order"
        # The fix: the document made able to take the refused change; then the redrive.
        with MongoClient(settings.mongo_uri) as client:
            client[settings.mongo_database]["users"].update_one({"_id": "acme:bad"}, {"$set": {"name": ["x"]}})
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", "rejected", "redrive", "--reason", "WRITE_REFUSED"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0 and "sent to" in done.stdout + done.stderr, done.stdout + done.stderr
        want = {"version": 3, "name": ["x", "y"], "plan": "pro", "last_message_id": "m4"}
        deadline = time.monotonic() + 60
        while _documents(settings)[("users", "acme:bad")] != want:
            assert time.monotonic() < deadline and job.alive(), _documents(settings)[("users", "acme:bad")]
            time.sleep(1)
    finally:
        job.kill()
        rejected.close()


def test_wrong_credentials_stop_the_writes_not_the_job_and_nothing_is_lost_once_fixed(isolated_env, tmp_path):
    """A deployment-level refusal (issue 18, item 4): with a MongoDB login that fails, reaction-streaming
    refuses no delta (no flood on hw.rejected), says what to fix, keeps checkpointing with the deltas in
    Flink state, and once started again with the right URI (it resumes its newest checkpoint) writes
    every document."""
    env, settings = isolated_env
    streams, sent = _stream(seed=8, entities=300, per_entity=3)
    expected = fold([d for s in streams for d in s], tombstones=True)
    host = settings.mongo_uri.split("://", 1)[1].split("/", 1)[0]
    wrong = {**env, "HEADWATER_MONGO_URI": f"mongodb://nobody:wrong@{host}/?authMechanism=PLAIN"}
    deltas = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "state.deltas"))
    rejected = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "rejected"))
    produce_deltas(settings, sent)
    deltas.catch_up()
    job = RunningJob("reaction-streaming", wrong, tmp_path / "wrong.log")
    try:
        deadline = time.monotonic() + 180
        while not deltas.consumed_by(client_name(settings, "reaction-streaming")):  # checkpointed in state
            assert job.alive() and time.monotonic() < deadline, f"see {job.log}"
            time.sleep(1)
        assert job.alive()
        said = job.log.read_text(errors="replace")
        assert "MongoDB refuses Headwater's writes" in said and "fix HEADWATER_MONGO_URI" in said, job.log
    finally:
        job.kill()
    rejected.poll_for(3)
    assert rejected.values == [], "a deployment error must not turn the deltas into rejections"
    assert _documents(settings) == {}
    job = RunningJob("reaction-streaming", env, tmp_path / "fixed.log")
    try:
        deadline = time.monotonic() + 180
        while (docs := _documents(settings)) != expected:
            assert job.alive() and time.monotonic() < deadline, f"{len(docs)}/{len(expected)}; see {job.log}"
            time.sleep(2)
    finally:
        job.kill()
        deltas.close()
        rejected.close()
