"""`headwater profile get` against FerretDB: any identifier of a user finds its document (and its
devices'), with times in ISO 8601; a tombstone or another tenant's user is never shown; an unknown
identifier exits 1 with one line."""

from __future__ import annotations

import json

import pytest
from pymongo import MongoClient

from harness.jobs import run_headwater
from jobs.action_streaming.device_state import device_doc_id

pytestmark = pytest.mark.integration

SEEN = 1_793_527_200_000  # 2026-11-01T10:00:00Z


def test_any_identifier_finds_the_user_and_its_devices(isolated_env):
    env, settings = isolated_env
    ann = {
        "_id": "acme:u-1",
        "tenant": "acme",
        "user_id": "u-1",
        "customer_id": "c-1",
        "emails": ["ann@example.com"],
        "phones": ["+14155550132"],
        "anonymous_ids": ["anon-1"],
        "devices": ["d-1"],
        "first_seen": SEEN,
        "last_seen": SEEN + 60_000,
        "attributes": {"plan": "pro"},
        "version": 3,
    }
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=5000) as client:
        db = client[settings.mongo_database]
        db["users"].insert_many(
            [
                ann,
                {"_id": "acme:u-2", "version": 5, "deleted": True},  # a deleted user: a tombstone
                {"_id": "globex:u-9", "tenant": "globex", "user_id": "u-9", "customer_id": "c-1", "version": 1},
            ]
        )
        db["devices"].insert_one(
            {
                "_id": device_doc_id("acme", "d-1"),
                "tenant": "acme",
                "device_id": "d-1",
                "platform": "ios",
                "last_seen": SEEN,
            }
        )
    for identifier in ("u-1", "c-1", "ANN@Example.com", "(415) 555-0132", "anon-1", "d-1"):
        done = run_headwater(env, "profile", "get", "--tenant", "acme", "--id", identifier)
        assert done.returncode == 0, done.stderr
        user = json.loads(done.stdout)
        assert user["_id"] == "acme:u-1" and user["attributes"] == {"plan": "pro"}, identifier
        assert (user["first_seen"], user["last_seen"]) == ("2026-11-01T10:00:00.000Z", "2026-11-01T10:01:00.000Z")
        assert [(d["device_id"], d["platform"], d["last_seen"]) for d in user["devices_documents"]] == [
            ("d-1", "ios", "2026-11-01T10:00:00.000Z")
        ]
    other = json.loads(run_headwater(env, "profile", "get", "--tenant", "globex", "--id", "c-1").stdout)
    assert other["_id"] == "globex:u-9"
    for tenant, identifier in (("acme", "u-2"), ("acme", "nobody@example.com"), ("initech", "c-1")):
        missing = run_headwater(env, "profile", "get", "--tenant", tenant, "--id", identifier)
        assert missing.returncode == 1 and missing.stdout == "", missing
        assert missing.stderr.strip().splitlines() == [
            f"headwater: error: no user of tenant {tenant} holds {identifier!r} (as user id, customer id, email, "
            f"phone, anonymous id or device) in {settings.mongo_database}.users"
        ]
