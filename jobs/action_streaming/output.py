"""State deltas, enriched events and identity profiles as Kafka records (Avro single-object encoded)."""

from __future__ import annotations

from common.serde.avro import AvroCodec
from jobs.action_streaming.deltas import Delta
from jobs.action_streaming.identity import UserIdentity
from jobs.api_unification.model import Event, Value


def delta_record(tenant: str, message_id: str, delta: Delta) -> dict:
    return {"collection": delta.collection, "doc_id": delta.doc_id, "tenant": tenant, "version": delta.version,
            "message_id": message_id, "delete": delta.delete, "set": delta.set, "unset": delta.unset,
            "add_to_set": delta.add_to_set, "pull": delta.pull}


def encode_delta(codec: AvroCodec, tenant: str, message_id: str, delta: Delta) -> tuple[bytes, bytes]:
    return delta.doc_id.encode(), codec.encode("state_delta", delta_record(tenant, message_id, delta))


def encode_event(codec: AvroCodec, tenant: str, user_id: str, message_id: str, index: int, event: Event,
                 snapshot: dict[str, Value]) -> tuple[bytes, bytes]:
    return f"{tenant}:{user_id}".encode(), codec.encode("enriched_event", {
        "tenant": tenant, "user_id": user_id, "message_id": message_id, "index": index, "name": event.name,
        "time_ms": event.time_ms, "properties": event.properties, "user_attributes": snapshot})


def profile_record(tenant: str, identity: UserIdentity, merged_into: str | None = None, deleted: bool = False) -> dict:
    external = [{"type": key.split(":", 1)[0], "value": key.split(":", 1)[1], "first_seen_ms": seen}
                for key, seen in sorted(identity.first_seen_ids.items())]
    return {"tenant": tenant, "user_id": identity.user_id, "external_ids": external, "merged_into": merged_into,
            "deleted": deleted}


def encode_profile(codec: AvroCodec, tenant: str, identity: UserIdentity, **flags) -> tuple[bytes, bytes]:
    return f"{tenant}:{identity.user_id}".encode(), codec.encode("identity_profile", profile_record(tenant, identity, **flags))
