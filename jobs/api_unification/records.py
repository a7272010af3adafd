"""api-unification's Kafka records: unified actions as routed records (one per identifier, keyed by
routing key: common/contracts/routing.py) and rejections.

The record shapes are contracts (common/contracts/); this module only puts them on the wire.
"""

from __future__ import annotations

from common.contracts.actions import Action, action_from_record
from common.contracts.rejections import Rejection, rejected_record
from common.contracts.routing import routed_records
from common.serde import frames
from common.serde.avro import AvroCodec
from jobs.api_unification.rejection_budget import shape

JOB = "api-unification"


ROUTED = b""  # the key of an encoded action that holds its routed records (by identifier)


def encode_action(codec: AvroCodec, action: Action, arrival_ms: int) -> tuple[bytes, bytes]:
    """(ROUTED, a frame of the action's routed records: common/contracts/routing.py), which
    `action_records` unpacks. One pair per action, so a message waiting for its schema keeps one
    pending entry."""
    return ROUTED, frames.pack((0, key, value) for key, value in routed_records(codec, action, arrival_ms))


def action_records(codec: AvroCodec, key: bytes, encoded: bytes) -> list[tuple[bytes, bytes]]:
    """The Kafka records of an action `encode_action` encoded. A savepoint taken before actions were
    routed (0.2) may hold, for a message waiting for its schema, the action keyed by tenant: it is
    routed here, so action-streaming never reads a record keyed the old way."""
    if key != ROUTED:
        record = codec.decode(encoded, "unified_action")
        return routed_records(codec, action_from_record(record), record["arrival_ms"])
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
