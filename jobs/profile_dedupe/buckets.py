"""profile-dedupe's keys: a fixed number of buckets of (tenant, profile), so that one tenant's messages
spread over every subtask, while one profile's records all meet in one place and in order.

The routing runs in Java (common/flink/java/.../ProfileBuckets.java) before the batches are built;
this module computes the same bucket in Python, for the operator to tell which profiles of a merge
are its own. A merge reaches its survivor's bucket as it is, and every other bucket of a profile it
merges as a marked copy (`MARK`, the bucket, the record): there that bucket hands what it remembers of
the profile over to the survivor's (docs/profile-dedupe.md, "Keyed by profile").

The bucket count is part of the operator's uid (`decide_uid`): the state of a profile only means
something under the bucket it hashes to, so a savepoint taken with another count fails to restore,
clearly, instead of hiding profiles under the wrong keys.
"""

from __future__ import annotations

from common.flink.buckets import MARK, MARKED, bucket_of, unmark
from common.flink.uids import bucketed_uid

__all__ = ["MARK", "MARKED", "batches_uid", "bucket_of", "decide_uid", "route_by_profile", "unmark"]


def decide_uid(job: str, buckets: int) -> str:
    return bucketed_uid(job, "decide", buckets)


def batches_uid(job: str, buckets: int) -> str:
    return bucketed_uid(job, "batches", buckets)


def route_by_profile(
    records, codec, buckets: int, max_parallelism: int, batch_records: int, batch_delay_ms: int, job: str
):
    """`records` (raw values of hw.compute.output, hw.identity.profiles and hw.dedupe.handovers) routed
    to their buckets and batched per bucket (common/flink/batches.py), keyed by the bucket's name."""
    from pyflink.datastream.data_stream import DataStream
    from pyflink.java_gateway import get_gateway

    from common.flink.batches import Timestamps, keyed_batches
    from common.flink.keys import spread_names

    gateway = get_gateway()
    flink = gateway.jvm.headwater.flink
    headers = [
        b"\xc3\x01" + codec.registry.current(name).fingerprint
        for name in ("compute_message", "identity_profile", "dedupe_handover")
    ]
    names = gateway.new_array(gateway.jvm.java.lang.String, buckets)
    for i, name in enumerate(spread_names(buckets, max_parallelism)):
        names[i] = name
    routed = DataStream(records._j_data_stream.flatMap(getattr(flink, "ProfileBuckets$Route")(*headers, buckets)))
    routed.uid(f"{job}-route-merges").name("merges to every bucket they read")
    return keyed_batches(
        routed,
        getattr(flink, "ProfileBuckets$Key")(*headers, names),
        batch_records,
        batch_delay_ms,
        uid=batches_uid(job, buckets),
        timestamps=Timestamps.BESIDE,
        what=f"per-bucket batches of {buckets} (tenant, profile) buckets",
    )
