"""What profile-dedupe remembers of one profile: its external ids, per computation whether it is in it
and which destinations it was already messaged on, and the ids of the messages it recently got.

Kept as one value per profile in the operator's MapState (key: profile id, under the tenant key), so
a message costs one state read and one write for its profile. Stored as plain tuples (`pack`), which
pickle to about half the size of dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from common.contracts.profiles import ExternalId, ProfileIds


@dataclass(frozen=True)
class Membership:
    """One profile in one computation. `messaged`: the destinations with dedupes_on that already sent
    this profile a message for this computation (each profile gets each message once only)."""

    member: bool = False
    messaged: frozenset[str] = frozenset()


NOT_A_MEMBER = Membership()


@dataclass(frozen=True)
class ProfileState:
    ids: tuple[ExternalId, ...] = ()
    known: bool = False  # hw.identity.profiles has described it (messages wait until it has)
    merged_into: str | None = None
    computations: dict[str, Membership] = field(default_factory=dict)
    # message id -> event time of the messages already handled for this profile, within the window
    # (`remember`): a copy of one of them is a duplicate, however late it comes.
    seen: dict[str, int] = field(default_factory=dict)

    def membership(self, computation_id: str) -> Membership:
        return self.computations.get(computation_id) or NOT_A_MEMBER


EMPTY = ProfileState()


def union_ids(*id_sets) -> tuple[ExternalId, ...]:
    """All ids of the sets, once each (by type and value), keeping the earliest first-seen time."""
    earliest: dict[tuple[str, str], ExternalId] = {}
    for ids in id_sets:
        for external_id in ids:
            seen = earliest.get(external_id.pair)
            if seen is None or external_id.first_seen_ms < seen.first_seen_ms:
                earliest[external_id.pair] = external_id
    return tuple(sorted(earliest.values()))


def with_identity(state: ProfileState | None, profile: ProfileIds) -> ProfileState:
    """Apply an hw.identity.profiles record: its ids replace the known ones (identity resolution is the
    authority), memberships stay."""
    state = state or EMPTY
    return replace(state, ids=profile.ids, known=True, merged_into=profile.merged_into)


def remember(seen: dict[str, int], message_id: str, event_time_ms: int, window_ms: int, max_ids: int) -> dict[str, int]:
    """`seen` with one more message: ids older than `window_ms` (event time, before the newest) are
    forgotten, and at most `max_ids` of the newest are kept. Event time, not wall-clock, so a replay
    forgets exactly what the first run forgot."""
    seen = {**seen, message_id: event_time_ms}
    horizon = max(seen.values()) - window_ms
    kept = {m: t for m, t in seen.items() if t >= horizon}
    if len(kept) > max_ids:
        kept = dict(sorted(kept.items(), key=lambda item: (item[1], item[0]))[-max_ids:])
    return kept


def pack(state: ProfileState) -> tuple:
    return (
        tuple(map(tuple, state.ids)),
        state.known,
        state.merged_into,
        {c: (m.member, tuple(sorted(m.messaged))) for c, m in state.computations.items()},
        state.seen,
    )


def unpack(packed: tuple | None) -> ProfileState | None:
    if packed is None:
        return None
    ids, known, merged_into, computations, seen = packed
    return ProfileState(
        ids=tuple(map(ExternalId._make, ids)),
        known=known,
        merged_into=merged_into,
        computations={c: Membership(member, frozenset(messaged)) for c, (member, messaged) in computations.items()},
        seen=seen,
    )
