import pytest

from common.contracts.actions import Event
from common.contracts.deltas import Delta
from common.serde.avro import AvroCodec, SerdeError
from common.serde.peek import first_string
from jobs.action_streaming.identity import UserIdentity
from jobs.action_streaming.records import encode_delta, encode_event, encode_profile

CODEC = AvroCodec()


def test_delta_roundtrip_with_every_operation():
    delta = Delta(
        "users",
        "acme:u-1",
        3,
        set={"attributes.plan": "pro", "counters.viewed": 2, "last_seen": 5, "version": 3, "attributes.tags": ["a", 1]},
        unset=["attributes.old"],
        add_to_set={"emails": ["a@x.io"]},
        pull={"devices": ["d1"]},
    )
    key, value = encode_delta(CODEC, "acme", "m-1", delta)
    decoded = CODEC.decode(value)
    assert key == b"acme:u-1" and decoded["set"] == delta.set and decoded["pull"] == {"devices": ["d1"]}
    assert (decoded["collection"], decoded["version"], decoded["delete"]) == ("users", 3, False)
    assert first_string(value) == "acme"


def test_event_and_profile_roundtrip_and_tenant_peek():
    key, value = encode_event(CODEC, "acme", "u-1", "m-1", 0, Event("viewed", 10, {"p": 1.5}), {"plan": "pro"})
    assert key == b"acme:u-1" and CODEC.decode(value)["user_attributes"] == {"plan": "pro"}
    assert first_string(value) == "acme"
    identity = UserIdentity("u-1", 5, "c1", first_seen_ids={"email:a@x.io": 7, "customer_id:c1": 5})
    [(key, value)] = encode_profile(CODEC, "acme", identity)
    decoded = CODEC.decode(value)
    assert decoded["external_ids"] == [
        {"type": "customer_id", "value": "c1", "first_seen_ms": 5},
        {"type": "email", "value": "a@x.io", "first_seen_ms": 7},
    ]
    assert key == b"acme:u-1" and first_string(value) == "acme"
    [(_, merged)] = encode_profile(CODEC, "acme", identity, merged_into="u-0")
    assert CODEC.decode(merged)["merged_into"] == "u-0" and CODEC.decode(merged)["external_ids"] == []
    # a delete: the record says so and lists nothing, then a tombstone removes the key from the compacted topic
    (_, deleted), tombstone = encode_profile(CODEC, "acme", identity, deleted=True)
    assert CODEC.decode(deleted)["deleted"] and CODEC.decode(deleted)["external_ids"] == []
    assert tombstone == (key, None)


def test_peek_reads_the_tenant_of_a_unified_action():
    from common.contracts.actions import Action, Identifiers
    from jobs.api_unification.records import encode_action

    long_tenant = "t" * 200  # a length needing a two-byte varint
    _, value = encode_action(CODEC, Action(long_tenant, "api", "m", "track", 1, Identifiers(customer_id="c")), 1)
    assert first_string(value) == long_tenant


@pytest.mark.parametrize("value", [b"", b"{}", b"\xc3\x01" + b"\x00" * 8, b"\xc3\x01" + b"\x00" * 8 + b"\x10ab"])
def test_peek_refuses_what_it_cannot_read(value):
    with pytest.raises(SerdeError):
        first_string(value)
