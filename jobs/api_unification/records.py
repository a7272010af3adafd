"""api-unification's Kafka records: Avro-encoded unified actions (keyed by tenant) and rejections.

The record shapes are contracts (common/contracts/); this module only puts them on the wire.
"""

from __future__ import annotations

from common.contracts.actions import Action, action_key, action_record
from common.contracts.rejections import Rejection, rejected_record
from common.serde.avro import AvroCodec
from jobs.api_unification.rejection_budget import shape

JOB = "api-unification"


def encode_action(codec: AvroCodec, action: Action, arrival_ms: int) -> tuple[bytes, bytes]:
    return action_key(action), codec.encode("unified_action", action_record(action, arrival_ms))


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
