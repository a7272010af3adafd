"""A record action-streaming cannot read is refused to hw.rejected with its bytes (INVALID_RECORD),
never a crash loop: the Java batcher keys it by "" (or by the string it happens to start with) and
the operator refuses it (ResolveAndFold on the fake runtime, harness/flink_fake.py), with the Kafka
timestamp its batch carried for it."""

from __future__ import annotations

import struct

from common.contracts.actions import Action, Event, Identifiers, action_record
from common.contracts.tenants import load_registry
from common.serde import frames
from common.serde.avro import MAGIC, AvroCodec
from harness.flink_fake import OperatorDriver
from jobs.action_streaming.operators import ResolveAndFold
from jobs.action_streaming.records import EVENTS, REJECTED
from jobs.action_streaming.settings import ActionSettings

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


def _batch(records: list[bytes], first_timestamp: int) -> bytes:
    """A batch as TenantBatches.java builds it with timestamps: each record keyed by its Kafka time."""
    return frames.pack([(0, struct.pack(">q", first_timestamp + n), raw) for n, raw in enumerate(records)])


def test_an_unreadable_record_is_refused_and_the_next_one_goes_on():
    driver = OperatorDriver(ResolveAndFold(load_registry(), None, ActionSettings()))
    out = driver.element(_batch([*GARBAGE[:3], _action("m1")], 5), key="", timestamp=99)
    out += driver.element(_batch([*GARBAGE[3:], _action("m2")], 8), key="acme", timestamp=99)
    records = [(output, value) for frame in out for output, _key, value in frames.unpack(bytes(frame))]
    refused = [CODEC.decode(value) for output, value in records if output == REJECTED]
    assert [r["original"] for r in refused] == GARBAGE
    assert [(r["job"], r["reason"], r["source"], r["arrival_ms"]) for r in refused] == [
        ("action-streaming", "INVALID_RECORD", "unified.actions", arrival) for arrival in (5, 6, 7, 8, 9)
    ]
    assert [CODEC.decode(v)["message_id"] for o, v in records if o == EVENTS] == ["m1", "m2"]
