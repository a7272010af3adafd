from common.contracts.rejections import Reason, Rejection
from common.serde.avro import AvroCodec
from jobs.api_unification.records import action_records, encode_action, encode_rejection
from jobs.api_unification.unify import unify
from tests.unit.api_unification.conftest import ARRIVAL, NOW_ISO, raw

CODEC = AvroCodec()


def test_action_roundtrips_with_every_value_type_and_is_routed_by_identifier():
    from common.contracts.tenants import hash_write_key, parse_registry

    registry = parse_registry({"tenants": {"acme": {"write_keys": [hash_write_key("wk_acme")]}}})
    doc = {
        "type": "track",
        "tenant": "acme",
        "anonymous_id": "a1",
        "email": "e@x.io",
        "event": "v",
        "timestamp": NOW_ISO,
        "properties": {"b": True, "i": 3, "f": 2.5, "s": "x"},
    }
    o = unify("api", raw(doc), ARRIVAL, registry)
    records = action_records(CODEC, *encode_action(CODEC, o.action, ARRIVAL))
    assert [key for key, _ in records] == [b"acme|email:e@x.io", b"acme|anonymous_id:a1"]  # home, then a link
    decoded = CODEC.decode(records[0][1])
    assert decoded["events"][0]["properties"] == {"b": True, "i": 3, "f": 2.5, "s": "x"}
    assert type(decoded["events"][0]["properties"]["i"]) is int and decoded["arrival_ms"] == ARRIVAL


def test_encoding_is_deterministic(registry):
    doc = {
        "type": "identify",
        "tenant": "acme",
        "customer_id": "c1",
        "timestamp": NOW_ISO,
        "attributes": {"z": 1, "a": [1, "x", None]},
    }
    first = encode_action(CODEC, unify("api", raw(doc), ARRIVAL, registry).action, ARRIVAL)
    second = encode_action(CODEC, unify("api", raw(doc), ARRIVAL, registry).action, ARRIVAL)
    assert first == second


def test_rejection_keeps_the_original_bytes():
    original = b"\xff not even utf-8"
    value = encode_rejection(
        CODEC,
        Rejection(Reason.INVALID_JSON, "not UTF-8 at byte 0"),
        source="api",
        tenant=None,
        message_id="",
        arrival_ms=ARRIVAL,
        original=original,
    )
    decoded = CODEC.decode(value)
    assert decoded["original"] == original and decoded["reason"] == "INVALID_JSON" and decoded["message_id"] is None


def test_every_reason_code_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "ingest-formats.md").read_text()
    for reason in Reason:
        assert f"`{reason.value}`" in doc, f"{reason.value} missing from docs/ingest-formats.md"
