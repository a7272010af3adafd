"""ID groups: destinations that receive the same external-id set share one outbound event.

The group's name is the SHA-256 of the canonical id set (sorted (type, value) pairs, `type` NUL `value`,
one per line).
The design names "SHA128", which does not exist (docs/profile-dedupe.md); SHA-256 is the stated
choice here. Event ids derive
from the message id, the group and the part, so a message processed again (a duplicate that slipped
past the window, or a replay from an older savepoint) yields the same event ids, which a consumer
can dedupe on.

Grouping streams: deliveries arrive sorted by destination id and a group is emitted in parts of at
most `max_destinations`, so one message that fans out to 150,000 destinations holds at most one part
per group in memory, never all its deliveries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from jobs.profile_dedupe.deliveries import Delivery

MAX_DESTINATIONS_PER_EVENT = 500


def id_group_hash(ids: tuple[tuple[str, str], ...]) -> str:
    """SHA-256 (hex) of the canonical id set: sorted pairs, each `type` NUL `value`, one per line."""
    canonical = "\n".join(f"{t}\x00{v}" for t, v in sorted(ids))
    return hashlib.sha256(canonical.encode()).hexdigest()


def event_id(tenant: str, message_id: str, group: str, part: int) -> str:
    return hashlib.sha256(f"{tenant}\x00{message_id}\x00{group}\x00{part}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class GroupPart:
    group: str
    ids: tuple[tuple[str, str], ...]
    destinations: tuple[str, ...]
    part: int


def id_groups(
    deliveries: Iterable[Delivery], max_destinations: int = MAX_DESTINATIONS_PER_EVENT
) -> Iterator[GroupPart]:
    """Group deliveries by id set. Full parts are yielded as they fill; the rest at the end, by group hash."""
    open_parts: dict[str, tuple[tuple[tuple[str, str], ...], list[str], int]] = {}
    for delivery in deliveries:
        group = id_group_hash(delivery.ids)
        ids, destinations, part = open_parts.get(group) or (delivery.ids, [], 0)
        destinations.append(delivery.destination_id)
        if len(destinations) >= max_destinations:
            yield GroupPart(group, ids, tuple(destinations), part)
            destinations, part = [], part + 1
        open_parts[group] = (ids, destinations, part)
    for group in sorted(open_parts):
        ids, destinations, part = open_parts[group]
        if destinations:
            yield GroupPart(group, ids, tuple(destinations), part)
