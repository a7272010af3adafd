"""Read the first string field of an Avro single-object value without decoding the rest.

Jobs key their input by tenant, and every Headwater record between jobs has `tenant` as its first
field (a rule of schemas/, checked by tests/unit/test_schema_compatibility.py): reading one varint and
a few bytes is much cheaper than decoding the whole record in a key selector.
"""

from __future__ import annotations

from common.serde.avro import HEADER_LEN, MAGIC, SerdeError


def first_string(value: bytes) -> str:
    if value[:2] != MAGIC:
        raise SerdeError("not an Avro single-object encoded value (missing C3 01 marker)")
    shift, raw, pos = 0, 0, HEADER_LEN
    while True:  # Avro long: zigzag varint
        if pos >= len(value):
            raise SerdeError("truncated Avro value")
        byte = value[pos]
        pos += 1
        raw |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    length = (raw >> 1) ^ -(raw & 1)
    if length < 0 or pos + length > len(value):
        raise SerdeError("truncated Avro value")
    return value[pos:pos + length].decode("utf-8")
