"""action-streaming's Kafka records: it reads unified actions and writes state deltas, enriched
events and identity profiles, all Avro single-object encoded (shapes: common/contracts/), and refuses
a record it cannot read to `hw.rejected`."""

from __future__ import annotations

from collections.abc import Iterator

from common.contracts.actions import Action, Event, Value, action_from_record
from common.contracts.deltas import Delta, delta_key, delta_record
from common.contracts.enriched import enriched_key
from common.contracts.rejections import Reason, Rejection, rejected_record
from common.serde.avro import AvroCodec, SerdeError
from common.serde.fast_avro import DeltaEncoder, EnrichedEncoder

OUTPUTS = ("state.deltas", "events.enriched", "identity.profiles")  # what the job makes of an action
FRAME_TOPICS = (*OUTPUTS, "rejected")  # frame output index -> topic suffix
DELTAS, EVENTS, PROFILES, REJECTED = range(len(FRAME_TOPICS))
JOB = "action-streaming"
# What reading a record may raise: not Avro, an unknown writer schema, another record type, a field
# the model does not accept.
UNREADABLE = (SerdeError, KeyError, TypeError, ValueError)


def decode_action(codec: AvroCodec, raw: bytes) -> Action:
    return action_from_record(codec.decode(raw, "unified_action"))


def encode_unreadable(codec: AvroCodec, raw: bytes, why: str, arrival_ms: int) -> tuple[bytes, bytes]:
    """A record of `hw.unified.actions` that does not decode, refused with its original bytes."""
    rejection = Rejection(Reason.INVALID_RECORD, f"not a readable unified_action: {why[:300]}")
    return b"", codec.encode(
        "rejected",
        rejected_record(
            rejection,
            job=JOB,
            source="unified.actions",
            tenant=None,
            message_id=None,
            arrival_ms=arrival_ms,
            original=raw,
        ),
    )


def encode_delta(encoder: AvroCodec | DeltaEncoder, tenant: str, message_id: str, delta: Delta) -> tuple[bytes, bytes]:
    """The Kafka record of a delta; the operators pass a DeltaEncoder (the same bytes, faster)."""
    record = delta_record(tenant, message_id, delta)
    if isinstance(encoder, DeltaEncoder):
        return delta_key(delta), encoder.encode(record)
    return delta_key(delta), encoder.encode("state_delta", record)


def encode_events(
    encoder: EnrichedEncoder, tenant: str, message_id: str, events: list[tuple[str, int, Event, dict[str, Value]]]
) -> Iterator[tuple[bytes, bytes]]:
    """The enriched-event records of one message's events (levels.py's Effects.events): they share
    their user and attribute snapshot, which are encoded once (common/serde/fast_avro.py)."""
    if not events:
        return
    user_id, _, _, snapshot = events[0]
    if any(other[0] != user_id or other[3] is not snapshot for other in events):
        raise ValueError("the events of one message belong to one user with one snapshot")
    key = enriched_key(tenant, user_id)
    for value in encoder.encode(
        tenant, user_id, message_id, [(index, event) for _, index, event, _ in events], snapshot
    ):
        yield key, value
