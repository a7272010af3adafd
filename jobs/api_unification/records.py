"""api-unification's Kafka records: Avro-encoded unified actions (keyed by tenant) and rejections.

The record shapes are contracts (common/contracts/); this module only puts them on the wire.
"""

from __future__ import annotations

from common.contracts.actions import Action, action_key, action_record
from common.contracts.rejections import Rejection, rejected_record
from common.contracts.routing import routed_records
from common.serde import frames
from common.serde.avro import AvroCodec
from jobs.api_unification.rejection_budget import shape

JOB = "api-unification"


ROUTED = b""  # the key of an encoded action that holds its routed records (by identifier)


def encode_action(
    codec: AvroCodec, action: Action, arrival_ms: int, by_identifier: bool = False
) -> tuple[bytes, bytes]:
    """(Kafka key, value) of the action keyed by tenant; by identifier (HEADWATER_ACTION_ROUTING),
    (ROUTED, a frame of its routed records: common/contracts/routing.py), which `action_records`
    unpacks. One pair either way, so a message waiting for its schema keeps the same state layout."""
    if not by_identifier:
        return action_key(action), codec.encode("unified_action", action_record(action, arrival_ms))
    return ROUTED, frames.pack((0, key, value) for key, value in routed_records(codec, action, arrival_ms))


def action_records(key: bytes, encoded: bytes) -> list[tuple[bytes, bytes]]:
    """The Kafka records of an action `encode_action` encoded."""
    if key != ROUTED:
        return [(key, encoded)]
    return [(routed_key, value) for _output, routed_key, value in frames.unpack(encoded)]


def encode_rejection(codec: AvroCodec, rejection: Rejection, **context) -> bytes:
    return codec.encode("rejected", rejected_record(rejection, job=JOB, **context))


def encode_rejections(
    codec: AvroCodec, outcome, rejections: list[Rejection], original_sent: bool = False
) -> list[bytes]:
    """One message's rejections at one stage, bounded by its size (rejection_budget.py): the original bytes
    in the first record only, unless `original_sent` (an earlier stage's record carries them)."""
    repeated = len((outcome.tenant or "").encode()) + len(outcome.message_id.encode()) + len(outcome.source)
    return [
        encode_rejection(
            codec,
            shaped.rejection,
            source=outcome.source,
            tenant=outcome.tenant,
            message_id=outcome.message_id,
            arrival_ms=outcome.arrival_ms,
            original=outcome.raw,
            part=shaped.part,
            parts=shaped.parts,
            original_omitted=not shaped.carries_original,
        )
        for shaped in shape(rejections, outcome.raw, repeated=repeated, original_sent=original_sent)
    ]
