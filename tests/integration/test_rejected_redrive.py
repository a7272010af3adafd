"""`headwater rejected list|redrive` on the real stack (issue 18, item 5): records refused for a write key
nobody had registered are listed; after the tenant and its key are registered and api-unification restarted, a
redrive sends each original once, reports the action that came out of each, and a second redrive sends
nothing again."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from common.config import REPO_ROOT
from common.contracts.tenants import hash_write_key
from common.kafka.produce import send
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.jobs import RunningJob, headwater_ok
from harness.kafka import Collector

pytestmark = pytest.mark.integration


def _headwater(env: dict, *args: str) -> str:
    done = headwater_ok(env, *args)
    return done.stdout + done.stderr


def _tenants(tmp_path, with_newco: bool):
    registry = yaml.safe_load((REPO_ROOT / "config" / "tenants.yaml").read_text())
    if with_newco:
        registry["tenants"]["newco"] = {"write_keys": [hash_write_key("wk_newco")]}
    path = tmp_path / ("tenants-newco.yaml" if with_newco else "tenants.yaml")
    path.write_text(yaml.safe_dump(registry))
    return str(path)


def test_refused_for_an_unknown_tenant_then_registered_and_redriven_once(isolated_env, tmp_path):
    env, settings = isolated_env
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    now_ms = int(time.time() * 1000)  # the redrive arrives now: the event time must fit today's window
    for n in range(3):
        doc = {
            "type": "identify",
            "tenant": "newco",
            "write_key": "wk_newco",
            "message_id": f"newco-{n}",
            "customer_id": f"c{n}",
            "attributes": {"plan": "pro"},
            "timestamp": now_ms,
        }
        send(producer, topic(settings.topic_prefix, "ingest.api"), json.dumps(doc).encode(), timestamp=now_ms)
    assert producer.flush(30) == 0
    actions = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "unified.actions"))
    rejected = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "rejected"))
    first_env = {**env, "HEADWATER_TENANTS": _tenants(tmp_path, with_newco=False)}
    job = RunningJob("api-unification", first_env, tmp_path / "first.log")
    try:
        assert rejected.wait_for(3, timeout=180, alive=job.alive), f"see {job.log}"
        time.sleep(3)  # a checkpoint past them
    finally:
        job.kill()
    listed = _headwater(env, "rejected", "list", "--reason", "WRITE_KEY_REFUSED")
    assert "3 rejections match" in listed and listed.count("WRITE_KEY_REFUSED") == 3, listed

    second_env = {**env, "HEADWATER_TENANTS": _tenants(tmp_path, with_newco=True)}
    job = RunningJob("api-unification", second_env, tmp_path / "second.log")  # resumes its checkpoint
    try:
        report = _headwater(env, "rejected", "redrive", "--reason", "WRITE_KEY_REFUSED", "--wait", "180")
        assert report.count("accepted: an action on") == 3, report
        again = _headwater(env, "rejected", "redrive", "--reason", "WRITE_KEY_REFUSED", "--wait", "0")
        assert again.count("skipped: already redriven") == 3 and "sent to" not in again, again
        actions.poll_for(6)  # a few more checkpoints: nothing more may come
    finally:
        job.kill()
        actions.close()
        rejected.close()
    codec = AvroCodec()
    newco = sorted(r["message_id"] for r in map(codec.decode, actions.values) if r["tenant"] == "newco")
    assert newco == ["newco-0", "newco-1", "newco-2"]  # each once
