"""One computation message, start to end, as a pure function of the message, the profiles it touches,
the connected destinations and the rollout levers.

    choose paths (rollout.py) -> decide per destination (decide.py) on the path(s) that run
    -> the sent path's deliveries -> ID groups (groups.py) -> outbound events
    -> the shadow path's deliveries -> comparator (comparator.py) -> mismatches
    -> what was sent -> the profiles' new state (merges combine the merged profiles' state)

Deliveries are generated lazily, destination by destination, and consumed once: a message that fans
out to 150,000 destinations never holds them all (the out-of-memory lesson in docs/profile-dedupe.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from common.contracts.compute import ComputeMessage, Trigger
from common.contracts.destinations import Destination
from common.contracts.outbound import mismatch_record, outbound_record
from common.contracts.profiles import ExternalId
from jobs.profile_dedupe.ad_lists import ADS_LIST, hashed
from jobs.profile_dedupe.comparator import ShadowComparator
from jobs.profile_dedupe.decide import Decision, decide_legacy, decide_new
from jobs.profile_dedupe.deliveries import Delivery
from jobs.profile_dedupe.groups import MAX_DESTINATIONS_PER_EVENT, event_id, id_groups
from jobs.profile_dedupe.profiles import EMPTY, Membership, ProfileState, union_ids
from jobs.profile_dedupe.rollout import PathChoice

OUTBOUND, MISMATCH = "outbound", "mismatch"


@dataclass
class MessageOutcome:
    """Filled in while `process_message` runs; read it after exhausting the generator."""

    choice: PathChoice | None = None
    duplicate: bool = False
    branches: Counter = field(default_factory=Counter)  # decision-tree branch -> destinations
    events: int = 0
    deliveries: int = 0
    mismatches: int = 0
    states: dict[str, ProfileState] = field(default_factory=dict)  # profiles to write back


def profiles_read_by(message: ComputeMessage) -> list[str]:
    """The profiles whose state a message needs: its own, and for a merge the merged ones."""
    if message.trigger is Trigger.PROFILE_MERGE:
        return list(dict.fromkeys([message.profile_id, *message.merged_profile_ids]))
    return [message.profile_id]


DISABLED = Decision("destination_disabled")


def _decide(
    new: bool,
    message: ComputeMessage,
    destination: Destination,
    membership: Membership,
    before_merge: list[Membership],
    ids: tuple[ExternalId, ...],
) -> Decision:
    if not destination.enabled:
        return DISABLED
    if new:
        decision = decide_new(message, destination, membership, before_merge, ids)
    else:
        decision = decide_legacy(message, destination, ids)
    if decision.delivery is not None and destination.kind == ADS_LIST:  # hashed identifiers only (ad_lists.py)
        return replace(decision, delivery=hashed(decision.delivery))
    return decision


def process_message(
    message: ComputeMessage,
    profiles: dict[str, ProfileState | None],
    destinations: Iterable[Destination],
    choice: PathChoice,
    outcome: MessageOutcome,
    comparator: ShadowComparator | None = None,
    max_destinations: int = MAX_DESTINATIONS_PER_EVENT,
) -> Iterator[tuple[str, dict]]:
    """Yield (OUTBOUND, outbound_event record) and (MISMATCH, dedupe_mismatch record) pairs.

    `profiles` holds the state of every profile of `profiles_read_by(message)` (None: never seen).
    `destinations`: the tenant's destinations connected to the computation, sorted by id; it is
    iterated once per path that runs, so it may be a re-iterable view but not a one-shot iterator."""
    outcome.choice = choice
    profile = profiles.get(message.profile_id) or EMPTY
    merged = (
        [profiles.get(p) or EMPTY for p in profiles_read_by(message)]
        if message.trigger is Trigger.PROFILE_MERGE
        else []
    )
    before_merge = [p.membership(message.computation_id) for p in merged]
    ids = (
        union_ids(profile.ids, *(p.ids for p in merged), (message.external_id,) if message.external_id else ())
        if merged or message.external_id
        else profile.ids
    )  # already sorted and unique
    membership = profile.membership(message.computation_id)
    compare = comparator if choice.compare else None
    newly_messaged: list[str] = []

    branches = outcome.branches

    def sent(path: str) -> Iterator[Delivery]:
        new = path == "new"
        for destination in destinations:
            decision = _decide(new, message, destination, membership, before_merge, ids)
            branches[decision.branch] += 1
            if decision.delivery is None:
                continue
            if compare is not None and not destination.dedupes_on:
                compare.add(message.message_id, decision.delivery, 1 if path == "new" else -1)
            if destination.dedupes_on and message.in_computation:
                newly_messaged.append(destination.destination_id)
            outcome.deliveries += 1
            yield decision.delivery

    def shadow(path: str) -> None:
        new = path == "new"
        for destination in destinations:
            decision = _decide(new, message, destination, membership, before_merge, ids)
            outcome.branches[f"shadow.{decision.branch}"] += 1
            if decision.delivery is not None and not destination.dedupes_on:
                compare.add(message.message_id, decision.delivery, 1 if path == "new" else -1)

    if compare is not None:
        shadow("legacy" if choice.send == "new" else "new")
    for part in id_groups(sent(choice.send), max_destinations):
        outcome.events += 1
        yield (
            OUTBOUND,
            outbound_record(
                message,
                event_id=event_id(message.tenant, message.message_id, part.group, part.part),
                id_group=part.group,
                destinations=list(part.destinations),
                ids=part.ids,
                path=choice.send,
                part=part.part,
            ),
        )
    if compare is not None:
        for mismatch in compare.finish():
            outcome.mismatches += 1
            yield (
                MISMATCH,
                mismatch_record(
                    message,
                    delivery_hash=mismatch.delivery_hash,
                    surplus=mismatch.surplus,
                    destination_id=mismatch.destination_id,
                ),
            )
    outcome.states = after_message(message, profile, merged, ids, frozenset(newly_messaged))


def after_message(
    message: ComputeMessage,
    profile: ProfileState,
    merged: list[ProfileState],
    ids: tuple[ExternalId, ...],
    newly_messaged: frozenset[str],
) -> dict[str, ProfileState]:
    """The profiles' state once the message is sent: membership follows the message's value, the
    destinations that messaged the profile are remembered, and a merge combines the merged profiles'
    memory of this computation into the surviving profile (so none of them is messaged twice)."""
    computation = message.computation_id
    messaged = profile.membership(computation).messaged | newly_messaged
    for before in merged:
        messaged |= before.membership(computation).messaged
    survivor = ProfileState(
        ids,
        profile.known,
        profile.merged_into,
        {**profile.computations, computation: Membership(message.in_computation, messaged)},
        profile.seen,
    )
    states = {message.profile_id: survivor}
    if message.trigger is Trigger.PROFILE_MERGE:  # `merged` is in the order of profiles_read_by
        for profile_id, before in zip(profiles_read_by(message), merged):
            if profile_id != message.profile_id:
                states[profile_id] = replace(before, merged_into=message.profile_id)
    return states
