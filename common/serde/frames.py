"""Many keyed Kafka records packed into one bytes value, for one Python -> JVM crossing per input.

Every record a PyFlink Python operator emits crosses into the JVM at a fixed cost of tens of
microseconds (docs/flink-notes.md), whatever its size. A job that turns one input into a dozen outputs (deltas,
enriched events, profiles) emits them as one frame instead; `common.flink.kafka.framed_exactly_once_sink`
splits the frame in a chained Java operator (common/flink/java/.../RecordFrames.java) and routes each record
to its topic in one exactly-once sink.

Frame: repeated [u8 output][i64 timestamp, only if output has bit 0x80][u32 key length][key]
[u32 value length][value], big-endian. `output & 0x7F` is an index into the sink's list of topics. A
value of None (length 0xFFFFFFFF, no bytes) is a Kafka tombstone: on a compacted topic it removes the
key. A record with a timestamp (epoch ms) is written to Kafka with it: the jobs stamp every output with
the Kafka timestamp of the ingest record it came from, so each hop downstream can tell how old the
data it reads is (the freshness metrics, docs/metrics.md); without one, the producer's clock decides.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

_HEADER = struct.Struct(">BI")
_STAMPED_HEADER = struct.Struct(">BqI")
_STAMPED, _MAX_OUTPUT = 0x80, 0x7F
_LENGTH = struct.Struct(">I")
_TOMBSTONE = 0xFFFFFFFF


class FrameError(ValueError):
    pass


def pack(records: Iterable[tuple]) -> bytes:
    """(output, key, value) or (output, key, value, timestamp_ms) records -> one frame; value None: a
    tombstone; timestamp None: none."""
    parts = []
    for record in records:
        output, key, value = record[0], record[1], record[2]
        timestamp = record[3] if len(record) > 3 else None
        if not 0 <= output <= _MAX_OUTPUT:
            raise FrameError(f"output index {output} is outside 0..{_MAX_OUTPUT}")
        if timestamp is None:
            parts += (_HEADER.pack(output, len(key)), key)
        else:
            parts += (_STAMPED_HEADER.pack(output | _STAMPED, timestamp, len(key)), key)
        if value is None:
            parts.append(_LENGTH.pack(_TOMBSTONE))
        else:
            parts += (_LENGTH.pack(len(value)), value)
    return b"".join(parts)


def unpack(frame: bytes) -> Iterator[tuple[int, bytes, bytes | None]]:
    """The inverse of `pack`, without the timestamps (the JVM side does the same in RecordFrames.java)."""
    for output, key, value, _timestamp in unpack_stamped(frame):
        yield output, key, value


def unpack_stamped(frame: bytes) -> Iterator[tuple[int, bytes, bytes | None, int | None]]:
    """The inverse of `pack`: (output, key, value, timestamp or None)."""
    pos, end = 0, len(frame)
    while pos < end:
        if pos + _HEADER.size > end:
            raise FrameError(f"truncated frame at byte {pos}")
        timestamp = None
        if frame[pos] & _STAMPED:
            if pos + _STAMPED_HEADER.size > end:
                raise FrameError(f"truncated frame at byte {pos}")
            output, timestamp, key_len = _STAMPED_HEADER.unpack_from(frame, pos)
            output &= _MAX_OUTPUT
            pos += _STAMPED_HEADER.size
        else:
            output, key_len = _HEADER.unpack_from(frame, pos)
            pos += _HEADER.size
        key, pos = frame[pos : pos + key_len], pos + key_len
        if pos + _LENGTH.size > end:
            raise FrameError(f"truncated frame at byte {pos}")
        (value_len,) = _LENGTH.unpack_from(frame, pos)
        pos += _LENGTH.size
        if value_len == _TOMBSTONE:
            yield output, key, None, timestamp
            continue
        value, pos = frame[pos : pos + value_len], pos + value_len
        if pos > end:
            raise FrameError(f"truncated frame at byte {end}")
        yield output, key, value, timestamp


def framed(records: Iterable[tuple], frame_records: int) -> Iterator[bytes]:
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
