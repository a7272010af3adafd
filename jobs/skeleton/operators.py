"""The skeleton's one operator: a JSON ingest record into an Avro envelope."""

from __future__ import annotations

from pyflink.datastream import MapFunction

from common.flink.shipped_code import ShippedFunction
from common.serde.avro import AvroCodec
from jobs.skeleton.envelope import ENVELOPE_SCHEMA, wrap


class WrapInEnvelope(ShippedFunction, MapFunction):
    def __init__(self, source: str, ingest_topic: str):
        self.source = source
        self.ingest_topic = ingest_topic
        self.codec = None

    def open(self, runtime_context):
        self.codec = AvroCodec()

    def map(self, value: str) -> bytes:
        return self.codec.encode(ENVELOPE_SCHEMA, wrap(self.source, self.ingest_topic, value))
