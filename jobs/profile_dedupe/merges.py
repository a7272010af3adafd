"""Merges across buckets: who does what when a profile_merge message names profiles of other buckets.

profile-dedupe is keyed by buckets of (tenant, profile) (buckets.py). A merge decides with the memory
of every profile it merges, which may live in other buckets. ProfileBuckets.java sends the merge to
its survivor's bucket, and a marked copy to each other bucket of a merged profile. Then:

- a merged profile's bucket (a *loser copy*), once the profile's earlier messages are done (it waits
  behind them, and for the profile to be known, like any message), writes a *handover* of what it
  remembers of the profile for the merge's computation to `hw.dedupe.handovers` and marks the profile
  merged into the survivor;
- the survivor's bucket waits for one handover per merged profile of another bucket (a merge whose
  message it already saw is a duplicate and waits for nothing), then decides the merge exactly as if
  it had read those profiles itself.

The handover travels through Kafka, written exactly once and read read_committed, because Flink has
no usable loop. Every step happens at a fixed place in one bucket's order, so the outcome does not
depend on timing: the same as one operator reading every profile in the order of hw.compute.output.
A handover waits for nothing but the loser's bucket, so it is never given up on; a late one costs
the merge about one checkpoint interval.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from common.contracts.compute import ComputeMessage, Trigger
from common.contracts.profiles import ExternalId
from jobs.profile_dedupe.buckets import bucket_of
from jobs.profile_dedupe.profiles import EMPTY, Membership, ProfileState


@dataclass(frozen=True)
class Roles:
    """What one bucket does with one compute message."""

    survivor: bool  # it decides the message (every message but a loser copy)
    local_losers: tuple[str, ...] = ()  # merged profiles whose state is here
    remote_losers: tuple[str, ...] = ()  # (survivor) merged profiles of other buckets: handovers to wait for


DECIDES = Roles(survivor=True)


def losers(message: ComputeMessage) -> list[str]:
    """The profiles a merge merges into its survivor, once each, in order."""
    if message.trigger is not Trigger.PROFILE_MERGE:
        return []
    return [p for p in dict.fromkeys(message.merged_profile_ids) if p != message.profile_id]


def roles(message: ComputeMessage, copy_of_bucket: int | None, buckets: int) -> Roles:
    """The roles of a bucket: the survivor's (`copy_of_bucket` None: the record as it came), or the
    bucket a marked copy was sent to."""
    merged = losers(message)
    if not merged:
        return DECIDES
    if copy_of_bucket is None:
        own = bucket_of(message.tenant, message.profile_id, buckets)
        here = tuple(p for p in merged if bucket_of(message.tenant, p, buckets) == own)
        return Roles(True, here, tuple(p for p in merged if p not in here))
    return Roles(False, tuple(p for p in merged if bucket_of(message.tenant, p, buckets) == copy_of_bucket))


def names(tenant: str, profiles) -> frozenset:
    """What a waiting message's order matters for (common/flink/parking.py): profiles, by tenant."""
    return frozenset((tenant, p) for p in profiles)


def awaited_key(tenant: str, message_id: str) -> str:
    """Where the survivor's bucket keeps the handovers a merge waits for."""
    return f"{tenant}\x00{message_id}"


def handover_record(message: ComputeMessage, profile_id: str, state: ProfileState | None) -> dict:
    """What a loser's bucket hands over: the profile's ids, whether it is known, and its membership of
    the merge's computation (all a merge decision reads of a merged profile: process.py)."""
    state = state or EMPTY
    membership = state.membership(message.computation_id)
    return {
        "tenant": message.tenant,
        "survivor_id": message.profile_id,
        "message_id": message.message_id,
        "profile_id": profile_id,
        "external_ids": [i._asdict() for i in state.ids],
        "known": state.known,
        "member": membership.member,
        "messaged": sorted(membership.messaged),
    }


def merged_away(state: ProfileState | None, survivor: str) -> ProfileState:
    """A loser's state once it handed itself over: what it was, merged into the survivor."""
    return replace(state or EMPTY, merged_into=survivor)


def packed_handover(record: dict) -> tuple:
    """A handover as kept while its merge waits: plain tuples, like profiles.pack."""
    ids = tuple((i["type"], i["value"], i["first_seen_ms"]) for i in record["external_ids"])
    return ids, record["known"], record["member"], tuple(record["messaged"])


def handed_over(packed: tuple, computation_id: str) -> ProfileState:
    """A merged profile of another bucket as the merge decision reads it."""
    ids, known, member, messaged = packed
    return ProfileState(
        ids=tuple(ExternalId(*i) for i in ids),
        known=known,
        computations={computation_id: Membership(member, frozenset(messaged))},
    )
