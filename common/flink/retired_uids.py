"""Operators that earlier versions of the jobs had, by uid, so that a savepoint which no longer fits
is refused in one line that names the operator and the state it holds (CHANGELOG.md says why each
went).

Flink refuses such a savepoint ("Cannot map checkpoint/savepoint state for operator <id> to the new
program") naming only the operator's id: the 128-bit MurmurHash3 (x64, seed 0) of its uid, as
`StreamGraphHasherV2` computes it for an operator with a uid. Hashing the uids below finds which one it
was. A change that retires a uid with state adds it here, with its CHANGELOG.md line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.contracts.routing import LEVELS
from common.flink.uids import SIZED, SIZES_TRIED


@dataclass(frozen=True)
class Retired:
    job: str
    states: tuple[str, ...]  # the state names its savepoints hold
    why: str  # which change retired it (its CHANGELOG.md entry)


RETIRED: dict[str, Retired] = {
    "reaction-streaming-apply-deltas": Retired(
        "reaction-streaming", ("pending",), "0.2 keeps pending deltas under other shard keys"
    ),
    # 0.3: action-streaming is keyed below the tenant (docs/identity.md): its tenant-keyed operators go.
    "action-streaming-resolve-and-fold": Retired(
        "action-streaming",
        ("users", "identity_index", "devices"),
        "0.3 keys action-streaming below the tenant; replay its input from the start (CHANGELOG.md)",
    ),
    "action-streaming-batches": Retired(
        "action-streaming", ("pending",), "0.3 keys action-streaming below the tenant (CHANGELOG.md)"
    ),
    "action-streaming-source": Retired(
        "action-streaming",
        ("Kafka offsets of hw.unified.actions keyed by tenant",),
        "0.3 keys hw.unified.actions by identifier (CHANGELOG.md)",
    ),
    # 0.3: profile-dedupe is keyed by buckets of (tenant, profile) (docs/profile-dedupe.md).
    "profile-dedupe-decide": Retired(
        "profile-dedupe",
        ("profiles", "parked", "config"),
        "0.3 keys profile-dedupe by profile; replay hw.compute.output from the start (CHANGELOG.md)",
    ),
    "profile-dedupe-batches": Retired(
        "profile-dedupe", ("pending", "pending_times"), "0.3 keys profile-dedupe by profile (CHANGELOG.md)"
    ),
    "profile-dedupe-source": Retired(
        "profile-dedupe",
        ("Kafka offsets of hw.compute.output and hw.identity.profiles",),
        "0.3 keys profile-dedupe by profile (CHANGELOG.md)",
    ),
    # The identifier levels ran as a job of their own, action-streaming-levels, before 0.3 made them
    # action-streaming.
    **{
        f"action-streaming-levels-{kind}-{keys}": Retired(
            "action-streaming-levels", ("identifiers",), "0.3 runs the identifier levels as action-streaming"
        )
        for kind in LEVELS
        for keys in ("keys", "sealed-keys")
    },
}

_OPERATOR = re.compile(r"state for operator ([0-9a-f]{32})")


def operator_id(uid: str) -> str:
    """The operator id Flink derives from `uid`, in the hex its messages print."""
    import mmh3  # the CLI's only: TaskManagers never explain a refusal

    return mmh3.hash_bytes(uid.encode(), 0, True).hex()


def unmapped_operator(flink_message: str) -> str | None:
    """What the operator a refused savepoint holds state for was, from Flink's message: its uid, job,
    state names and why it went, when a retired uid hashes to it; the count it was laid out for, when
    it is a sized operator (uids.SIZED) taken with another count; else its id. None if the message
    names no operator."""
    found = _OPERATOR.search(flink_message)
    if found is None:
        return None
    wanted = found.group(1)
    for uid, retired in RETIRED.items():
        if operator_id(uid) == wanted:
            return f"operator {uid} of {retired.job} (state {', '.join(retired.states)}), retired: {retired.why}"
    for template, setting in SIZED.items():
        for count in SIZES_TRIED:
            uid = template.format(count)
            if operator_id(uid) == wanted:
                return f"operator {uid}, laid out for {setting}={count}: run with {setting}={count}"
    return f"operator {wanted}, which is not one of this version's"
