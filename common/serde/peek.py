"""Read the first fields of an Avro single-object value without decoding the rest.

Jobs key their input by a leading field: every Headwater record between jobs has `tenant` as its
first field (a rule of schemas/, checked by tests/unit/test_schema_compatibility.py), and a state
delta's `doc_id` follows its `collection`. Reading a few varints and bytes is much cheaper than
decoding the whole record in a key selector.
"""

from __future__ import annotations

from common.serde.avro import HEADER_LEN, MAGIC, SerdeError


def _long(value: bytes, pos: int) -> tuple[int, int]:
    shift, raw = 0, 0
    while True:  # Avro long: zigzag varint
        if pos >= len(value):
            raise SerdeError("truncated Avro value")
        byte = value[pos]
        pos += 1
        raw |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (raw >> 1) ^ -(raw & 1), pos
        shift += 7


def leading_fields(value: bytes, kinds: tuple[str, ...]) -> list[str | int]:
    """The first len(kinds) fields, each "string" or "int" (an int, long or enum index)."""
    if value[:2] != MAGIC:
        raise SerdeError("not an Avro single-object encoded value (missing C3 01 marker)")
    out: list[str | int] = []
    pos = HEADER_LEN
    for kind in kinds:
        number, pos = _long(value, pos)
        if kind == "int":
            out.append(number)
            continue
        if number < 0 or pos + number > len(value):
            raise SerdeError("truncated Avro value")
        out.append(value[pos : pos + number].decode("utf-8"))
        pos += number
    return out


def first_string(value: bytes) -> str:
    return leading_fields(value, ("string",))[0]


def delta_doc_id(value: bytes) -> str:
    """`doc_id` of a `state_delta` (tenant: string, collection: enum, doc_id: string)."""
    return leading_fields(value, ("string", "int", "string"))[2]
