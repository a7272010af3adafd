"""Buckets of (tenant, id): how the jobs keyed below the tenant (profile-dedupe by profile,
audience-computation by user) spread one tenant over every subtask, computed the same way in Java
(common/flink/java/.../ProfileBuckets.java, UserBuckets.java) and here.

A record meant for one bucket whatever it says (a copy of a merge for a loser's bucket, an audience
definition for every bucket) travels marked: `MARK`, the bucket (4 bytes, big-endian), the record.
"""

from __future__ import annotations

import struct
import zlib

MARK = b"\xc3\x00"  # not an Avro single-object header (C3 01): no record starts so
MARKED = len(MARK) + 4


def bucket_of(tenant: str, entity_id: str, buckets: int) -> int:
    """CRC32 of tenant, a 0 byte and the id (UTF-8), modulo the count: ProfileBuckets.bucket."""
    return zlib.crc32(tenant.encode() + b"\x00" + entity_id.encode()) % buckets


def unmark(raw: bytes, buckets: int) -> tuple[bytes, int | None]:
    """(the record, the bucket of a marked copy), or (raw, None) for a record as it came."""
    if len(raw) > MARKED and raw[:2] == MARK:
        (bucket,) = struct.unpack_from(">i", raw, 2)
        if 0 <= bucket < buckets:
            return raw[MARKED:], bucket
    return raw, None
