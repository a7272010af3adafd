from common.serde.avro import AvroCodec
from jobs.skeleton.envelope import ENVELOPE_SCHEMA, wrap


def test_wrap_keeps_the_payload_unchanged_and_counts_utf8_bytes():
    env = wrap("api", "hw.ingest.api", '{"name": "Zoë"}')
    assert env == {"source": "api", "topic": "hw.ingest.api", "payload": '{"name": "Zoë"}', "payload_bytes": 16}


def test_wrap_is_deterministic_and_encodes_to_identical_bytes():
    codec = AvroCodec()
    a = codec.encode(ENVELOPE_SCHEMA, wrap("api", "t", "not json at all"))
    b = codec.encode(ENVELOPE_SCHEMA, wrap("api", "t", "not json at all"))
    assert a == b
    assert codec.decode(a)["payload"] == "not json at all"
