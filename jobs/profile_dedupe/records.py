"""profile-dedupe's Kafka records: what it reads (computation messages, identity profiles, config), and
what it writes (outbound events, comparator mismatches, rejections), packed into frames for one
exactly-once sink (common/serde/frames.py). Record shapes: common/contracts/."""

from __future__ import annotations

from common.contracts.compute import ComputeMessage
from common.contracts.outbound import outbound_key
from common.contracts.rejections import Rejection, refused_input
from common.serde.avro import AvroCodec
from common.serde.fast_avro import OutboundEncoder

JOB = "profile-dedupe"
OUTPUTS = ("delivery.outbound", "dedupe.mismatches", "rejected", "dedupe.handovers")  # frame output -> topic
OUTBOUND_OUT, MISMATCH_OUT, REJECTED_OUT, HANDOVER_OUT = range(len(OUTPUTS))


class Encoders:
    """One codec and the fast outbound encoder, per operator instance."""

    def __init__(self, codec: AvroCodec):
        self.codec = codec
        self.fast_outbound = OutboundEncoder(codec)

    def decode(self, raw: bytes) -> tuple[str, dict]:
        """(schema name, record); SerdeError for a value that is not a record Headwater knows."""
        return self.codec.writer_of(raw).name, self.codec.decode(raw)

    def outbound(self, message: ComputeMessage, record: dict) -> tuple[int, bytes, bytes]:
        return OUTBOUND_OUT, outbound_key(message), self.fast_outbound.encode(record)

    def mismatch(self, message: ComputeMessage, record: dict) -> tuple[int, bytes, bytes]:
        return MISMATCH_OUT, outbound_key(message), self.codec.encode("dedupe_mismatch", record)

    def handover(self, record: dict) -> tuple[int, bytes, bytes]:
        return (
            HANDOVER_OUT,
            f"{record['tenant']}:{record['survivor_id']}".encode(),
            self.codec.encode("dedupe_handover", record),
        )

    def rejection(self, rejection: Rejection, raw: bytes, record: dict | None, source: str) -> tuple[int, bytes, bytes]:
        value = refused_input(rejection, raw, record, job=JOB, source=source)
        return REJECTED_OUT, b"", self.codec.encode("rejected", value)
