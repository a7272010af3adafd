"""audience-computation's Kafka records: what it reads (enriched events, identity profiles, audience
definitions, its own handovers) and writes (computation messages, handovers, rejections), packed into
frames for one exactly-once sink (common/serde/frames.py)."""

from __future__ import annotations

import json

from common.contracts.rejections import Rejection, refused_input
from common.serde.avro import AvroCodec
from jobs.audience_computation.memberships import Change, Handover, message_id

JOB = "audience-computation"
OUTPUTS = ("compute.output", "audiences.handovers", "rejected")  # frame output -> topic suffix
MESSAGE_OUT, HANDOVER_OUT, REJECTED_OUT = range(len(OUTPUTS))
INPUTS = ("events.enriched", "identity.profiles", "audiences.handovers")
ENTERED, EXITED = json.dumps("entered"), json.dumps("exited")
STAMP = b"\xc3\x02"  # in front of an enriched event: its partition (UserBuckets.Values)


def unstamp(raw: bytes) -> tuple[bytes, int | None]:
    """(the record, the partition of hw.events.enriched it came from), or (raw, None)."""
    if len(raw) > 4 and raw[:2] == STAMP:
        return raw[4:], int.from_bytes(raw[2:4], "big")
    return raw, None


def message_record(tenant: str, user_id: str, change: Change) -> dict:
    """The compute_message of a change (common/contracts/compute.py)."""
    new_id = change.external_id
    return {
        "tenant": tenant,
        "message_id": message_id(tenant, user_id, change),
        "computation_id": change.audience_id,
        "computation_kind": "audience",
        "profile_id": user_id,
        "value_json": ENTERED if change.entered else EXITED,
        "trigger": change.trigger.value,
        "merged_profile_ids": list(change.merged),
        "external_id": {"type": new_id[0], "value": new_id[1], "first_seen_ms": new_id[2]} if new_id else None,
        "event_time_ms": change.event_time_ms,
    }


def handover_record(tenant: str, survivor_id: str, handover: Handover) -> dict:
    return {
        "tenant": tenant,
        "user_id": survivor_id,
        "from_user_id": handover.from_user_id,
        "sequence": handover.sequence,
        "merge": handover.merge,
        "now_ms": handover.now_ms,
        "attributes_json": json.dumps(handover.attributes, sort_keys=True),
        "events": handover.events,
        "members": sorted(handover.inside),
    }


def handover_from_record(record: dict) -> Handover:
    return Handover(
        from_user_id=record["from_user_id"],
        sequence=record["sequence"],
        now_ms=record["now_ms"],
        attributes=json.loads(record["attributes_json"]),
        events={name: list(times) for name, times in record["events"].items()},
        inside=frozenset(record["members"]),
    )


class Encoders:
    """One codec per operator instance; (output, key, value) records for the frames."""

    def __init__(self, codec: AvroCodec):
        self.codec = codec

    def decode(self, raw: bytes) -> tuple[str, dict]:
        """(schema name, record); SerdeError for a value that is not a record Headwater knows."""
        return self.codec.writer_of(raw).name, self.codec.decode(raw)

    def message(self, tenant: str, user_id: str, change: Change) -> tuple[int, bytes, bytes]:
        record = message_record(tenant, user_id, change)
        return MESSAGE_OUT, f"{tenant}:{user_id}".encode(), self.codec.encode("compute_message", record)

    def handover(self, tenant: str, survivor_id: str, handover: Handover) -> tuple[int, bytes, bytes]:
        record = handover_record(tenant, survivor_id, handover)
        return HANDOVER_OUT, f"{tenant}:{survivor_id}".encode(), self.codec.encode("audience_handover", record)

    def rejection(self, rejection: Rejection, raw: bytes, record: dict | None, source: str) -> tuple[int, bytes, bytes]:
        value = refused_input(rejection, raw, record, job=JOB, source=source)
        return REJECTED_OUT, b"", self.codec.encode("rejected", value)
