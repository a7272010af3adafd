"""Per-tenant batches of records for a keyed Python operator, built in the JVM.

A PyFlink Python operator pays a fixed cost per element (tens of microseconds in thread mode, docs/flink-notes.md),
and PyFlink's own `key_by` adds a Python operator of its own in front. For a job whose records are
small and many (one computation message each), that fixed cost, twice, is most of the work.
`tenant_batches` keys by the tenant (the first field of every Headwater Avro record) and batches in
Java (common/flink/java/.../TenantBatches.java), then keys the batches the way PyFlink's `key_by` would, so
the Python operator gets one element per batch, with keyed state scoped to the tenant, and no Python
key selector runs at all.

Elements of the returned stream: a frame (common/serde/frames.py) of one tenant's raw records, in
arrival order. `ctx.get_current_key()` is the tenant ("" for a record that is not Avro: the operator
refuses it). With `timestamps`, each record's frame key is its Kafka timestamp (`record_time`);
where the batcher keeps it is part of the job's savepoints (TenantBatches.java): INLINE in front of
each pending value (action-streaming), BESIDE in a list of its own, so that a savepoint taken before
a job had timestamps still restores (profile-dedupe).
"""

from __future__ import annotations

import struct
from enum import IntEnum


class Timestamps(IntEnum):
    """Where TenantBatches.java keeps each pending record's Kafka timestamp (its constants)."""

    NONE = 0
    INLINE = 1
    BESIDE = 2


def record_time(key: bytes, default: int) -> int:
    """The Kafka timestamp a batch frame carries for one record (with timestamps), else `default`."""
    return struct.unpack(">q", key)[0] if len(key) == 8 else default


def tenant_batches(stream, max_records: int, max_delay_ms: int, uid: str, timestamps: Timestamps = Timestamps.NONE):
    """Batches of one tenant's records (keyed by the leading tenant of each)."""
    from pyflink.java_gateway import get_gateway

    leading_tenant = getattr(get_gateway().jvm.headwater.flink, "TenantBatches$LeadingTenant")()
    return keyed_batches(stream, leading_tenant, max_records, max_delay_ms, uid, timestamps, "per-tenant batches")


def keyed_batches(
    stream, key_selector, max_records: int, max_delay_ms: int, uid: str, timestamps: Timestamps, what: str
):
    """Batches of the records that `key_selector` (a Java KeySelector<byte[], String>) gives one key."""
    from pyflink.common import Types
    from pyflink.datastream.data_stream import DataStream, KeyedStream
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    j_batches = stream._j_data_stream.keyBy(key_selector, Types.STRING().get_java_type_info()).process(
        jvm.headwater.flink.TenantBatches(max_records, max_delay_ms, int(timestamps))
    )
    batches = DataStream(j_batches)
    batches.uid(uid).name(f"{what} (≤{max_records} records, ≤{max_delay_ms} ms)")
    # Exactly what PyFlink's key_by builds after its Python AddKey operator: Row(key, value) elements,
    # keyed by field 0, so the Python operator's keyed state and timers work unchanged.
    j_keyed = j_batches.keyBy(jvm.KeyByKeySelector(), Types.ROW([Types.STRING()]).get_java_type_info())
    return KeyedStream(j_keyed, Types.PRIMITIVE_ARRAY(Types.BYTE()), batches)
