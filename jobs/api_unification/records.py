"""api-unification's Kafka records: Avro-encoded unified actions (keyed by tenant) and rejections.

The record shapes are contracts (common/contracts/); this module only puts them on the wire.
"""

from __future__ import annotations

from common.contracts.actions import Action, action_key, action_record
from common.contracts.rejections import Rejection, rejected_record
from common.serde.avro import AvroCodec

JOB = "api-unification"


def encode_action(codec: AvroCodec, action: Action, arrival_ms: int) -> tuple[bytes, bytes]:
    return action_key(action), codec.encode("unified_action", action_record(action, arrival_ms))


def encode_rejection(codec: AvroCodec, rejection: Rejection, **context) -> bytes:
    return codec.encode("rejected", rejected_record(rejection, job=JOB, **context))
