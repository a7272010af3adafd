"""A record action-streaming cannot read is refused to hw.rejected with its bytes (INVALID_RECORD),
never a crash loop: the key selector gives it a key of its own and the operator refuses it
(ResolveAndFold on the fake runtime, harness/flink_fake.py)."""

from __future__ import annotations

from common.contracts.actions import Action, Event, Identifiers, action_record
from common.contracts.tenants import load_registry
from common.serde import frames
from common.serde.avro import MAGIC, AvroCodec
from harness.flink_fake import OperatorDriver
from jobs.action_streaming.job import UNREADABLE_KEY, tenant_key
from jobs.action_streaming.operators import ResolveAndFold
from jobs.action_streaming.records import EVENTS, REJECTED

CODEC = AvroCodec()
GARBAGE = [
    b"",
    b"not avro at all",
    MAGIC + b"\x01\x02",  # truncated header
    MAGIC + b"\x00" * 8 + b"\x08acme",  # a writer schema nobody knows
    MAGIC + b"\x00" * 8,  # a header and nothing else
]


def _action(message_id: str) -> bytes:
    action = Action(
        "acme",
        "api",
        message_id,
        "track",
        1_000,
        Identifiers(customer_id="c1"),
        events=[Event("viewed", 1_000, {"price": 3})],
    )
    return CODEC.encode("unified_action", action_record(action, 1_000))


def test_the_key_selector_never_raises():
    assert tenant_key(_action("m1")) == "acme"
    # the unknown schema still shows a leading string: it is keyed by it, and refused by the operator
    assert [tenant_key(raw) for raw in GARBAGE] == [UNREADABLE_KEY, UNREADABLE_KEY, UNREADABLE_KEY, "acme", ""]


def test_an_unreadable_record_is_refused_and_the_next_one_goes_on():
    driver = OperatorDriver(ResolveAndFold(load_registry(), None))
    out = []
    for raw in [*GARBAGE, _action("m1")]:
        out += driver.element(raw, key=tenant_key(raw), timestamp=5)
    records = [(output, value) for frame in out for output, _key, value in frames.unpack(bytes(frame))]
    refused = [CODEC.decode(value) for output, value in records if output == REJECTED]
    assert [r["original"] for r in refused] == GARBAGE
    assert {(r["job"], r["reason"], r["source"], r["arrival_ms"]) for r in refused} == {
        ("action-streaming", "INVALID_RECORD", "unified.actions", 5)
    }
    assert [CODEC.decode(v)["message_id"] for o, v in records if o == EVENTS] == ["m1"]
