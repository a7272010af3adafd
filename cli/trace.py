"""`headwater trace --tenant T --message-id M`: where one message went, in time order.

The trail: the ingest record, the unified action (and its links at its other identifiers) or its
refusals (with reasons), the deltas it caused
and the MongoDB documents that hold them now (their version against the delta's), the enriched events,
and the identity profiles written for it. Every derived record carries its ingest record's Kafka
timestamp (common/serde/frames.py), so the topics are read from `--since` on (by Kafka timestamp), not
from their beginning, and a profile record "for this message" is one of a user it touched with the
message's ingest time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from common.config import Settings
from common.contracts.routing import LINK
from common.errors import HeadwaterError
from common.serde.avro import AvroCodec, SerdeError
from common.topics import topic
from jobs.api_unification.timestamps import iso

INGEST = ("ingest.sdk", "ingest.api", "ingest.partner", "ingest.csv")
DERIVED = ("unified.actions", "rejected", "state.deltas", "events.enriched", "identity.profiles")
NOW = 2**62  # the time of a step read now (a document), after every recorded one


class NothingTraced(HeadwaterError):
    pass


@dataclass(frozen=True)
class Step:
    time_ms: int
    where: str  # topic (partition@offset) or collection
    what: str


def _ingest_id(value: bytes | None) -> tuple[str | None, str | None]:
    """(message id, tenant) of an ingest record; the tenant may be absent (partner records)."""
    try:
        record = json.loads(value) if value else None
    except ValueError:
        return None, None
    if not isinstance(record, dict):
        return None, None
    message_id = record.get("message_id", record.get("messageId"))
    return (str(message_id) if message_id is not None else None), record.get("tenant")


def _describe(suffix: str, record: dict) -> str:
    if suffix == "unified.actions":
        identifiers = record.get("identifiers") or {}
        named = ", ".join(f"{k}={v}" for k, v in identifiers.items() if v) if isinstance(identifiers, dict) else ""
        if record.get("kind") == LINK:  # the message's mark at one of its other identifiers (routing.py)
            return f"action link ({record.get('source')}) to the other identifiers{': ' + named if named else ''}"
        return f"action ({record.get('kind')}, {record.get('source')}){': ' + named if named else ''}"
    if suffix == "rejected":
        return (
            f"refused by {record.get('job')}: {record.get('reason')} {record.get('path') or ''} {record.get('detail')}"
        )
    if suffix == "state.deltas":
        changes = [op for op in ("set", "unset", "add_to_set", "pull") if record.get(op)]
        what = "delete" if record.get("delete") else ", ".join(changes) or "no change"
        return f"delta {record['collection']} {record['doc_id']} v{record['version']} ({what})"
    if suffix == "events.enriched":
        return f"enriched event {record.get('name')} #{record.get('index')} of user {record.get('user_id')}"
    if suffix == "identity.profiles":
        ids = ", ".join(f"{i.get('type')}={i.get('value')}" for i in record.get("external_ids") or [])
        merged = f", merged into {record['merged_into']}" if record.get("merged_into") else ""
        return f"profile {record.get('user_id')}{' deleted' if record.get('deleted') else ''}{merged}: {ids or '-'}"
    return str(record)


def trace(settings: Settings, tenant: str, message_id: str, since_ms: int) -> list[Step]:
    """Every step of `message_id` of `tenant` at or after `since_ms`, in time order."""
    from common.kafka.snapshot import messages_to_end

    codec, steps = AvroCodec(), []
    arrival: set[int] = set()  # the message's ingest timestamps (a resent message has several)
    users: set[str] = set()
    documents: dict[tuple[str, str], int] = {}  # (collection, doc id) -> the newest version it caused
    names = [topic(settings.topic_prefix, s) for s in INGEST]
    for msg in messages_to_end(settings, names, timeout_s=120, since_ms=since_ms):
        found, record_tenant = _ingest_id(msg.value())
        if found == message_id and record_tenant in (None, tenant):
            arrival.add(msg.timestamp()[1])
            where = f"{msg.topic()} {msg.partition()}@{msg.offset()}"
            steps.append(Step(msg.timestamp()[1], where, f"ingest record ({len(msg.value()):,} bytes)"))
    profiles = []
    names = [topic(settings.topic_prefix, s) for s in DERIVED]
    for msg in messages_to_end(settings, names, timeout_s=120, since_ms=since_ms):
        if msg.value() is None:
            continue
        try:
            record = codec.decode(msg.value())
        except SerdeError:
            continue
        suffix = msg.topic().removeprefix(settings.topic_prefix)
        where = f"{msg.topic()} {msg.partition()}@{msg.offset()}"
        if suffix == "identity.profiles":
            if record.get("tenant") == tenant:
                profiles.append((msg.timestamp()[1], where, record))
            continue
        if record.get("message_id") != message_id or record.get("tenant") not in (tenant, None):
            continue
        steps.append(Step(msg.timestamp()[1], where, _describe(suffix, record)))
        if suffix == "state.deltas":
            key = (record["collection"], record["doc_id"])
            documents[key] = max(documents.get(key, 0), int(record["version"]))
            if record["collection"] == "users":
                users.add(record["doc_id"].removeprefix(f"{tenant}:"))
        if suffix == "events.enriched" and record.get("user_id"):
            users.add(record["user_id"])
    steps += [
        Step(at, where, _describe("identity.profiles", record))
        for at, where, record in profiles
        if at in arrival and record.get("user_id") in users
    ]
    steps += _documents(settings, documents)
    return sorted(steps, key=lambda step: step.time_ms)


def _documents(settings: Settings, documents: dict[tuple[str, str], int]) -> list[Step]:
    """Each document the deltas touched, as MongoDB holds it now."""
    if not documents:
        return []
    from pymongo import MongoClient

    steps = []
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=5000) as client:
        db = client[settings.mongo_database]
        for (collection, doc), version in sorted(documents.items()):
            held = db[collection].find_one({"_id": doc}, {"version": 1, "deleted": 1}) or {}
            now = held.get("version")
            if now is None:
                state = f"not in MongoDB (yet): the delta v{version} is not written"
            elif now >= version:
                state = f"at version {now}{' (deleted)' if held.get('deleted') else ''}: holds v{version}"
            else:
                state = f"at version {now}: v{version} not written yet"
            steps.append(Step(NOW, f"mongodb {settings.mongo_database}.{collection}", f"{doc} {state}"))
    return steps


def render(steps: list[Step]) -> list[str]:
    return [f"{'now' if s.time_ms == NOW else iso(s.time_ms):<24}  {s.where:<40}  {s.what}" for s in steps]
