import pytest

from common.contracts.deltas import Delta
from common.serde.avro import AvroCodec, SerdeError
from common.serde.peek import first_string
from jobs.action_streaming.records import encode_delta

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


def test_peek_reads_the_tenant_of_a_unified_action():
    from common.contracts.actions import Action, Identifiers, action_record

    long_tenant = "t" * 200  # a length needing a two-byte varint
    action = Action(long_tenant, "api", "m", "track", 1, Identifiers(customer_id="c"))
    value = CODEC.encode("unified_action", action_record(action, 1))
    assert first_string(value) == long_tenant


@pytest.mark.parametrize("value", [b"", b"{}", b"\xc3\x01" + b"\x00" * 8, b"\xc3\x01" + b"\x00" * 8 + b"\x10ab"])
def test_peek_refuses_what_it_cannot_read(value):
    with pytest.raises(SerdeError):
        first_string(value)
