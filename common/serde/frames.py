"""Many keyed Kafka records packed into one bytes value, for one Python -> JVM crossing per input.

Every record a PyFlink Python operator emits crosses into the JVM at a fixed cost of tens of
microseconds (docs/flink-notes.md), whatever its size. A job that turns one input into a dozen outputs (deltas,
enriched events, profiles) emits them as one frame instead; `common.flink.kafka.framed_exactly_once_sink`
splits the frame in a chained Java operator (common/flink/java/.../RecordFrames.java) and routes each record
to its topic in one exactly-once sink.

Frame: repeated [u8 output][u32 key length][key][u32 value length][value], big-endian. `output` is an
index into the sink's list of topics. A value of None (length 0xFFFFFFFF, no bytes) is a Kafka
tombstone: on a compacted topic it removes the key.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

_HEADER = struct.Struct(">BI")
_LENGTH = struct.Struct(">I")
_TOMBSTONE = 0xFFFFFFFF


class FrameError(ValueError):
    pass


def pack(records: Iterable[tuple[int, bytes, bytes | None]]) -> bytes:
    """(output, key, value) records -> one frame; value None: a tombstone."""
    parts = []
    for output, key, value in records:
        if not 0 <= output <= 255:
            raise FrameError(f"output index {output} is outside 0..255")
        if value is None:
            parts += (_HEADER.pack(output, len(key)), key, _LENGTH.pack(_TOMBSTONE))
        else:
            parts += (_HEADER.pack(output, len(key)), key, _LENGTH.pack(len(value)), value)
    return b"".join(parts)


def unpack(frame: bytes) -> Iterator[tuple[int, bytes, bytes | None]]:
    """The inverse of `pack` (the JVM side does the same in RecordFrames.java)."""
    pos, end = 0, len(frame)
    while pos < end:
        if pos + _HEADER.size > end:
            raise FrameError(f"truncated frame at byte {pos}")
        output, key_len = _HEADER.unpack_from(frame, pos)
        pos += _HEADER.size
        key, pos = frame[pos : pos + key_len], pos + key_len
        if pos + _LENGTH.size > end:
            raise FrameError(f"truncated frame at byte {pos}")
        (value_len,) = _LENGTH.unpack_from(frame, pos)
        pos += _LENGTH.size
        if value_len == _TOMBSTONE:
            yield output, key, None
            continue
        value, pos = frame[pos : pos + value_len], pos + value_len
        if pos > end:
            raise FrameError(f"truncated frame at byte {end}")
        yield output, key, value


def framed(records: Iterable[tuple[int, bytes, bytes | None]], frame_records: int) -> Iterator[bytes]:
    """Records -> frames of at most `frame_records` records: one JVM crossing per frame, and a message
    with a huge fan-out never becomes one giant value."""
    chunk = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= frame_records:
            yield pack(chunk)
            chunk = []
    if chunk:
        yield pack(chunk)
