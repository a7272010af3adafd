"""A deleted user leaves no identifier behind (issue 18, item 6).

Two users of one tenant go through action-streaming, reaction-streaming and profile-dedupe on the
real stack. One of them (`gone-…`) is deleted after an anonymous profile of theirs was merged into
them and after their device got a push token. Then every place Headwater keeps data is searched for
the deleted user's identifiers: the `users` and `devices` collections (tombstones included), the
compacted topics as compaction keeps them (the latest value per key; a null value removes the key),
and the state of each job in a savepoint taken after the delete. The other user (`keep-…`) must still
be found in each place the search covers, so a search that cannot see anything would fail.

Log topics (the ingest topics, `hw.unified.actions`, `hw.state.deltas`, `hw.events.enriched`,
`hw.rejected`) are append-only: they hold a deleted user's records until their retention ends. The
test checks that the two whose records outlive processing honour HEADWATER_RETENTION_HOURS
(docs/operations.md, "Deleting a user").
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from pymongo import MongoClient

from cli.tail import read_committed
from common import config
from common.contracts.actions import Action, Device, Event, Identifiers
from common.kafka.admin import ensure_topics, topic_configs
from common.serde.avro import AvroCodec
from common.topics import TOPICS, topic
from harness.jobs import RunningJob
from harness.kafka import Collector
from harness.routed import produce_routed

pytestmark = pytest.mark.integration

CODEC = AvroCodec()
T0 = 1_795_000_000_000
GONE = ("gone-", "4155550101")  # every identifier of the deleted user holds one of these
KEPT = "keep-"


def _action(n: int, kind: str, ids: Identifiers, device: Device | None = None, time_ms: int = T0) -> Action:
    events = [Event("viewed", time_ms, {"n": n})] if kind == "track" else []
    return Action("acme", "sdk", f"del-{n}", kind, time_ms, ids, device=device, events=events)


def _actions() -> list[Action]:
    gone_device = Device("gone-dev-1", platform="ios", push_token="gone-tok-1")
    kept_device = Device("keep-dev-2", platform="android", push_token="keep-tok-2")
    kept = Identifiers(customer_id="keep-c2", emails=["keep-2@x.io"], device_id="keep-dev-2")
    customer = Identifiers(customer_id="gone-c1", emails=["gone-1@x.io"], phones=["+14155550101"])
    login = Identifiers(customer_id="gone-c1", anonymous_ids=["gone-anon-1", "gone-anon-2"], device_id="gone-dev-1")
    return [
        _action(1, "track", Identifiers(anonymous_ids=["gone-anon-2"], device_id="gone-dev-1"), gone_device),
        _action(2, "track", kept, kept_device),
        _action(3, "identify", customer, time_ms=T0 + 1_000),
        _action(4, "track", login, gone_device, T0 + 2_000),  # a login: the anonymous user merges into the customer
        _action(5, "delete_user", Identifiers(customer_id="gone-c1"), time_ms=T0 + 3_000),
        _action(6, "track", Identifiers(customer_id="keep-c2"), time_ms=T0 + 4_000),  # after the delete
    ]


def _found(blob: str | bytes) -> set[str]:
    """Which of the deleted user's identifier fragments, and whether the kept user's, occur in `blob`."""
    data = blob.encode() if isinstance(blob, str) else blob
    return {marker for marker in (*GONE, KEPT) if marker.encode() in data}


def _savepoint_bytes(path: str) -> bytes:
    root = Path(urlparse(path).path)  # file:/tmp/... or file:///tmp/...
    return b"".join(f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file())


def test_a_deleted_user_leaves_no_identifier_in_any_collection_compacted_topic_or_job_state(isolated_env, tmp_path):
    """action-streaming keeps its keys sealed and sends a delete's forgets back to the device keys
    through hw.identity.forget (docs/identity.md): the device's push token must be gone from its
    savepoint too."""
    env, settings = isolated_env
    env = {**env, "HEADWATER_CHECKPOINTS": (tmp_path / "checkpoints").as_uri(), "HEADWATER_RETENTION_HOURS": "36"}
    settings = config.load({**env, "HEADWATER_KAFKA": settings.kafka_bootstrap})
    ensure_topics(settings, partitions=2)  # applies the retention to the topics isolated_env created
    produce_routed(settings, _actions())
    profiles = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "identity.profiles"))
    jobs = {
        name: RunningJob(name, env, tmp_path / f"{name}.log")
        for name in ("action-streaming", "reaction-streaming", "profile-dedupe")
    }
    savepoints = {}
    try:
        with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=5000) as client:
            users = client[settings.mongo_database]["users"]

            def settled() -> bool:
                kept = users.find_one({"customer_id": "keep-c2"})
                return bool(
                    kept
                    and kept.get("counters", {}).get("viewed") == 2
                    and users.count_documents({"deleted": True}) == 2
                )

            _wait(settled, jobs, "the kept user's second event and two user tombstones (merged, deleted)")
            assert profiles.wait_for(6, timeout=60), f"{len(profiles.values)} profile records"
            _wait(lambda: "keep-" in json.dumps(_latest_profiles(settings), default=str), jobs, "the profiles")
            time.sleep(6)  # profile-dedupe reads the last profiles and checkpoints
            for name, job in jobs.items():
                savepoints[name] = job.stop_with_savepoint()
            documents = {
                collection: list(client[settings.mongo_database][collection].find())
                for collection in ("users", "devices")
            }
    finally:
        for job in jobs.values():
            job.kill()
        profiles.close()

    for collection, docs in documents.items():
        assert _found(json.dumps(docs, default=str)) == {KEPT}, f"{collection}: {docs}"
    assert sum(1 for d in documents["devices"] if d.get("deleted")) == 1  # the deleted user's device
    latest = _latest_profiles(settings)
    assert _found(json.dumps(latest, default=str)) == {KEPT}, latest
    assert {key.split(":")[0] for key in latest} == {"acme"} and len(latest) == 2  # kept user + merged loser
    for name, path in savepoints.items():
        found = _found(_savepoint_bytes(path))
        assert not found & set(GONE), f"{name}'s savepoint {path} holds {found & set(GONE)}"
        if name != "reaction-streaming":  # its state is empty once every delta is written
            assert KEPT in found, f"{name}'s savepoint {path} does not hold the kept user: the search sees nothing"
    retention = topic_configs(settings, [topic(settings.topic_prefix, t.suffix) for t in TOPICS if t.expires])
    assert {name: c["retention.ms"] for name, c in retention.items()} == {
        topic(settings.topic_prefix, "rejected"): str(36 * 3_600_000),
        topic(settings.topic_prefix, "events.enriched"): str(36 * 3_600_000),
    }


def _latest_profiles(settings) -> dict:
    """hw.identity.profiles as compaction keeps it: the latest value per key, none where it is null."""
    latest: dict[str, dict] = {}
    for key, value in read_committed(
        settings, topic(settings.topic_prefix, "identity.profiles"), max_records=100_000, idle_timeout=3
    ):
        if value is None:
            latest.pop(key.decode(), None)
        else:
            latest[key.decode()] = CODEC.decode(value)
    return latest


def _wait(condition, jobs: dict, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        dead = [name for name, job in jobs.items() if not job.alive()]
        assert not dead, f"{dead} exited; see {[str(jobs[n].log) for n in dead]}"
        assert time.monotonic() < deadline, f"no {what} after {timeout:.0f} s"
        time.sleep(1)
