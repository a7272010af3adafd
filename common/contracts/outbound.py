"""Outbound events (`hw.delivery.outbound`, Avro `outbound_event`): what profile-dedupe hands to the
delivery channels, one event per ID group of a message (docs/profile-dedupe.md); and the shadow
comparator's mismatches (`hw.dedupe.mismatches`, Avro `dedupe_mismatch`).

`event_id` is derived from the message, the group and the part, so a message processed again gives
the same ids and a channel can drop what it already delivered.
"""

from __future__ import annotations

from common.contracts.compute import ComputeMessage


def outbound_key(message: ComputeMessage) -> bytes:
    """The Kafka key: the profile, so one profile's events stay in order on one partition."""
    return f"{message.tenant}:{message.profile_id}".encode()


def outbound_record(
    message: ComputeMessage,
    *,
    event_id: str,
    id_group: str,
    destinations: list[str],
    ids: list[tuple[str, str]],
    path: str,
    part: int,
) -> dict:
    return {
        "tenant": message.tenant,
        "event_id": event_id,
        "message_id": message.message_id,
        "computation_id": message.computation_id,
        "computation_kind": message.computation_kind,
        "profile_id": message.profile_id,
        "value_json": message.value_json,
        "trigger": message.trigger.value,
        "id_group": id_group,
        "destinations": destinations,
        "external_ids": [{"type": t, "value": v} for t, v in ids],
        "path": path,
        "part": part,
        "event_time_ms": message.event_time_ms,
    }


def mismatch_record(message: ComputeMessage, *, delivery_hash: str, surplus: int, destination_id: str) -> dict:
    return {
        "tenant": message.tenant,
        "message_id": message.message_id,
        "delivery_hash": delivery_hash,
        "surplus": surplus,
        "destination_id": destination_id,
    }
