"""The hand-written outbound_event encoder writes exactly what fastavro writes."""

import random

from fastavro.utils import generate_many

from common.serde.avro import AvroCodec
from common.serde.fast_avro import OUTBOUND_FIELDS, OutboundEncoder

CODEC = AvroCodec()


def test_it_knows_every_field_of_the_current_schema_in_order():
    assert tuple(f["name"] for f in CODEC.registry.current("outbound_event").parsed["fields"]) == OUTBOUND_FIELDS


def test_same_bytes_as_fastavro_on_generated_records():
    encoder = OutboundEncoder(CODEC)
    rng = random.Random(1)
    for record in generate_many(CODEC.registry.current("outbound_event").parsed, 500):
        record["part"] = rng.choice([0, 1, 63, 64, 500, 2**31 - 1, -5])
        record["event_time_ms"] = rng.choice([0, 1_700_000_000_000, -1, 2**62])
        assert encoder.encode(record) == CODEC.encode("outbound_event", record)
