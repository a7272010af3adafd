"""profile-dedupe's rules over any key-value state: the Flink operator passes its MapStates, tests
pass dicts. Nothing here knows about Flink.

Per tenant, one store: `profiles` (profile id -> packed ProfileState). A profile's state also holds
the ids of its recent messages, which makes a repeated input message a counted duplicate instead of a
second send, at no extra state access.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from common.contracts.compute import ComputeMessage
from common.contracts.destinations import Destination
from common.contracts.profiles import ProfileIds
from common.contracts.rollout import Rollout
from jobs.profile_dedupe.comparator import ShadowComparator
from jobs.profile_dedupe.groups import MAX_DESTINATIONS_PER_EVENT
from jobs.profile_dedupe.process import MessageOutcome, process_message, profiles_read_by
from jobs.profile_dedupe.profiles import ProfileState, pack, remember, unpack, with_identity
from jobs.profile_dedupe.rollout import choose


class Store(Protocol):
    def get(self, key): ...

    def put(self, key, value) -> None: ...

    def remove(self, key) -> None: ...


class DictStore(dict):
    """A Store in memory, for tests and the pure reference."""

    def put(self, key, value):
        self[key] = value

    def remove(self, key):
        self.pop(key, None)


class TenantStore:
    """One tenant's profiles in a store shared by the tenants of a bucket: keys `tenant NUL profile`."""

    __slots__ = ("store", "prefix")

    def __init__(self, store: Store, tenant: str):
        self.store, self.prefix = store, tenant + "\x00"

    def get(self, key):
        return self.store.get(self.prefix + key)

    def put(self, key, value) -> None:
        self.store.put(self.prefix + key, value)

    def remove(self, key) -> None:
        self.store.remove(self.prefix + key)


class DestinationIndex:
    """The destination instances, indexed by (tenant, computation) -> destinations sorted by id.

    Rebuilt from the broadcast state's records when it changes (a config change is rare; a message
    is not), so a message finds its destinations with one dict lookup."""

    def __init__(self, destinations: dict[str, Destination] | None = None):
        self.destinations: dict[str, Destination] = dict(destinations or {})
        self._index: dict[tuple[str, str], tuple[Destination, ...]] | None = None

    def put(self, destination: Destination) -> None:
        self.destinations[destination.key] = destination
        self._index = None

    def delete(self, key: str) -> None:
        self.destinations.pop(key, None)
        self._index = None

    def connected(self, tenant: str, computation_id: str) -> tuple[Destination, ...]:
        if self._index is None:
            index: dict[tuple[str, str], list[Destination]] = {}
            for destination in self.destinations.values():
                for computation in dict.fromkeys(destination.computations):
                    index.setdefault((destination.tenant, computation), []).append(destination)
            self._index = {k: tuple(sorted(v, key=lambda d: d.destination_id)) for k, v in index.items()}
        return self._index.get((tenant, computation_id), ())


DUPLICATE_WINDOW_MS = 7 * 24 * 3600 * 1000
MAX_SEEN_PER_PROFILE = 1000


class DedupeEngine:
    def __init__(
        self,
        comparator: ShadowComparator | None = None,
        max_destinations: int = MAX_DESTINATIONS_PER_EVENT,
        duplicate_window_ms: int = DUPLICATE_WINDOW_MS,
        max_seen: int = MAX_SEEN_PER_PROFILE,
    ):
        self.comparator = comparator or ShadowComparator()
        self.max_destinations = max_destinations
        self.duplicate_window_ms = duplicate_window_ms
        self.max_seen = max_seen

    @staticmethod
    def known(profiles: Store, profile_id: str) -> bool:
        packed = profiles.get(profile_id)
        return packed is not None and packed[1]  # pack()'s `known`, without unpacking the rest

    @staticmethod
    def on_profile(profiles: Store, profile_id: str, update: ProfileIds) -> None:
        """An hw.identity.profiles record. A deleted profile is forgotten entirely."""
        if update.deleted:
            profiles.remove(profile_id)
            return
        profiles.put(profile_id, pack(with_identity(unpack(profiles.get(profile_id)), update)))

    def on_message(
        self,
        profiles: Store,
        message: ComputeMessage,
        index: DestinationIndex,
        rollout: Rollout,
        outcome: MessageOutcome,
        elsewhere: dict[str, ProfileState] | None = None,
    ) -> Iterator[tuple[str, dict]]:
        """Outputs of one message (see process.process_message); `outcome.duplicate` when it was seen.

        `elsewhere`: merged profiles whose state another bucket holds and handed over (merges.py); they
        are read from there, and their new state is that bucket's to write."""
        elsewhere = elsewhere or {}
        stored = {p: profiles.get(p) for p in profiles_read_by(message) if p not in elsewhere}
        read: dict[str, ProfileState | None] = {p: unpack(v) for p, v in stored.items()}
        read.update(elsewhere)
        own = read[message.profile_id]
        if own is not None and message.message_id in own.seen:
            outcome.duplicate = True
            return
        yield from process_message(
            message,
            read,
            index.connected(message.tenant, message.computation_id),
            choose(rollout, message.tenant, message.profile_id),
            outcome,
            self.comparator,
            self.max_destinations,
        )
        s = outcome.states[message.profile_id]
        outcome.states[message.profile_id] = ProfileState(
            s.ids,
            s.known,
            s.merged_into,
            s.computations,
            remember(s.seen, message.message_id, message.event_time_ms, self.duplicate_window_ms, self.max_seen),
        )
        for profile_id, state in outcome.states.items():
            if profile_id in elsewhere:
                continue
            packed = pack(state)
            if packed != stored.get(profile_id):
                profiles.put(profile_id, packed)
