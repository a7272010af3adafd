"""Stable operator uids for the operators PyFlink adds by itself.

A savepoint maps state to operators by uid, so every operator of a job carries one, and the jobs run
with `pipeline.auto-generate-uids: false` (flink-conf/config.yaml): a missing uid fails the build
instead of silently tying a savepoint to the shape of the graph. PyFlink's `key_by` inserts a Python
operator that computes the key; it has no `.uid()` of its own, so it gets one here.
(`get_side_output` also inserts one, but returns it: call `.uid()` on what it returns.)
"""

from __future__ import annotations

# Operators whose state is laid out for a count a setting gives (keys chosen per shard or bucket): the
# uid names the count, so a savepoint taken with another count fails to restore instead of hiding state
# under keys nothing reads, and the refusal names the count it was taken with (retired_uids.py).
SIZED: dict[str, str] = {
    "profile-dedupe-decide-{}-buckets": "HEADWATER_DEDUPE_BUCKETS",
    "profile-dedupe-batches-{}-buckets": "HEADWATER_DEDUPE_BUCKETS",
    "reaction-streaming-apply-{}-shards": "HEADWATER_REACTION_SHARDS",
    "audience-computation-judge-{}-buckets": "HEADWATER_AUDIENCE_BUCKETS",
    "audience-computation-batches-{}-buckets": "HEADWATER_AUDIENCE_BUCKETS",
}
SIZES_TRIED = range(1, 4097)


def bucketed_uid(job: str, what: str, buckets: int) -> str:
    """The uid of an operator of a job keyed by `buckets` buckets (one of SIZED's forms)."""
    return f"{job}-{what}-{buckets}-buckets"  # the counts a refusal is matched against (settings are positive ints)


def key_by(stream, key_selector, key_type, uid: str):
    """`stream.key_by(key_selector, key_type)`, with `uid` on the operator that computes the key."""
    keyed = stream.key_by(key_selector, key_type=key_type)
    keyed._j_data_stream.getTransformation().getInputs().get(0).setUid(uid)
    return keyed
