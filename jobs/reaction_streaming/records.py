"""reaction-streaming's Kafka records: it reads state deltas (decoded in batch.py, where a refused
write is traced back to its deltas) and writes rejections; and the shard a delta's document falls in."""

from __future__ import annotations

import zlib

from common.contracts.rejections import Rejection, rejected_record
from common.serde.avro import AvroCodec
from common.serde.peek import delta_doc_id

JOB = "reaction-streaming"


def shard_of(raw: bytes, shards: int) -> int:
    """The shard of the delta's document: stable across processes and replays (unlike Python's hash
    of a str), read from the leading fields without decoding the record."""
    try:
        return zlib.crc32(delta_doc_id(raw).encode()) % shards
    except Exception:  # undecodable: any shard will do; the job refuses it with a reason
        return 0


def encode_rejection(codec: AvroCodec, rejection: Rejection, raw: bytes, delta: dict | None, now_ms: int) -> bytes:
    return codec.encode(
        "rejected",
        rejected_record(
            rejection,
            job=JOB,
            source="state.deltas",
            tenant=delta["tenant"] if delta else None,
            message_id=delta["message_id"] if delta else None,
            arrival_ms=now_ms,
            original=raw,
        ),
    )
