"""The hand-written outbound_event encoder writes exactly what fastavro writes."""

import random

from fastavro.utils import generate_many

from common.contracts.actions import Event
from common.serde.avro import AvroCodec
from common.serde.fast_avro import (
    DELTA_FIELDS,
    ENRICHED_FIELDS,
    OUTBOUND_FIELDS,
    DeltaEncoder,
    EnrichedEncoder,
    OutboundEncoder,
)

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


def test_the_enriched_encoder_knows_every_field_of_the_current_schema_in_order():
    assert tuple(f["name"] for f in CODEC.registry.current("enriched_event").parsed["fields"]) == ENRICHED_FIELDS


def test_enriched_events_are_the_bytes_fastavro_writes():
    encoder = EnrichedEncoder(CODEC)
    rng = random.Random(2)
    odd = [2**63, -(2**63) - 1, [[1]], {"x": 1}, float("inf"), -0.0, "é\u2028", [], [None, True, 0, 1.5, "s"]]
    for record in generate_many(CODEC.registry.current("enriched_event").parsed, 300):
        snapshot = dict(record["user_attributes"])
        events = []
        for index in range(rng.randint(0, 4)):
            properties = dict(record["properties"])
            if rng.random() < 0.3:  # values fastavro writes differently or refuses: the fallback decides
                properties["odd"] = rng.choice(odd)
            events.append((index + rng.choice([0, 1000]), Event(record["name"], record["time_ms"], properties)))
        want = []
        for index, event in events:
            fields = {**record, "index": index, "properties": event.properties, "user_attributes": snapshot}
            try:
                want.append(CODEC.encode("enriched_event", fields))
            except (ValueError, TypeError, OverflowError) as exc:
                want.append(type(exc))
        got = []
        for index, event in events:  # one at a time, so a refusal of one does not hide the others
            try:
                got += list(
                    encoder.encode(
                        record["tenant"], record["user_id"], record["message_id"], [(index, event)], snapshot
                    )
                )
            except (ValueError, TypeError, OverflowError) as exc:
                got.append(type(exc))
        assert [g if isinstance(g, bytes) else "refused" for g in got] == [
            w if isinstance(w, bytes) else "refused" for w in want
        ]


def test_the_delta_encoder_knows_every_field_of_the_current_schema_in_order():
    assert tuple(f["name"] for f in CODEC.registry.current("state_delta").parsed["fields"]) == DELTA_FIELDS


def test_deltas_are_the_bytes_fastavro_writes():
    encoder = DeltaEncoder(CODEC)
    rng = random.Random(3)
    odd = [2**63, [[1]], {"x": 1}, -0.0, "é", [], [None, True, 0, 1.5, "s"], 7, -7, 2**40]
    for record in generate_many(CODEC.registry.current("state_delta").parsed, 400):
        record["version"] = rng.choice([0, 1, 1023, 1024, 2**63 - 1, -3, record["version"]])
        if rng.random() < 0.3:
            record["set"] = {**record["set"], "odd": rng.choice(odd)}
        if rng.random() < 0.2:
            record["add_to_set"] = {"tags": [rng.choice(odd[4:])]}
        try:
            want = CODEC.encode("state_delta", record)
        except Exception as refused:  # noqa: BLE001 - the encoder must refuse it too, the same way
            try:
                encoder.encode(record)
            except type(refused):
                continue
            raise AssertionError(f"fastavro refuses {record}, the encoder wrote it") from None
        assert encoder.encode(record) == want, record
