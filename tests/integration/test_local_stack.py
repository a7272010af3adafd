"""`headwater up` leaves every service answering real requests, with topics and bucket created."""

import subprocess
import sys

import pymongo
import pytest

from common.kafka.admin import admin_client, topic_configs
from common.s3 import s3_client
from common.topics import TOPICS
from infra.stack import control

pytestmark = pytest.mark.integration


def test_every_service_is_running(stack):
    rows = control.status(stack)
    assert [r.name for r in rows] == ["postgres", "ferretdb", "kafka", "minio"]
    assert all(r.state == "running" and r.pid for r in rows), rows
    assert all(r.address.startswith("127.0.0.1:") for r in rows)


def test_topics_exist_and_the_state_and_config_topics_are_compacted(stack):
    names = [f"{stack.topic_prefix}{t.suffix}" for t in TOPICS]
    existing = admin_client(stack).list_topics(timeout=10).topics
    assert set(names) <= set(existing)
    configs = topic_configs(stack, names)
    compacted = {n for n, c in configs.items() if c["cleanup.policy"] == "compact"}
    assert compacted == {
        f"{stack.topic_prefix}{suffix}"
        for suffix in (
            "identity.profiles",
            "destinations.config",
            "dedupe.rollout",
            "rejected.redrives",
            "audiences.config",
        )
    }


def test_mongo_wire_server_answers_and_writes(stack):
    with pymongo.MongoClient(stack.mongo_uri, serverSelectionTimeoutMS=5000) as client:
        assert client.admin.command("ping")["ok"] == 1.0
        col = client.headwater_it.smoke
        col.delete_many({})
        col.bulk_write([pymongo.UpdateOne({"_id": "t:1"}, {"$set": {"tenant": "t"}}, upsert=True)])
        assert col.find_one({"_id": "t:1"}) == {"_id": "t:1", "tenant": "t"}


def test_checkpoint_bucket_exists(stack):
    names = {b["Name"] for b in s3_client(stack).list_buckets()["Buckets"]}
    assert stack.checkpoint_bucket in names


def test_up_again_is_idempotent(stack):
    r = subprocess.run([sys.executable, "-m", "cli.main", "up"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("already running") == 4
    assert "topics    all present" in r.stdout


def test_status_exits_zero_and_lists_ports(stack):
    r = subprocess.run([sys.executable, "-m", "cli.main", "status"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for row in control.status(stack):
        assert row.address in r.stdout
