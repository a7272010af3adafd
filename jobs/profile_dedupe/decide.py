"""The dedupe decision tree: for one message and one destination, send with all external ids, send with
some (the latest id of the destination's `dedupes_on` type), or drop. One pure function per branch.

The rules are the Segment dedupe design's (docs/profile-dedupe.md has the table):
- value changed: entered (or a trait value) -> the latest id of the type, unless this destination
  already messaged the profile for this computation; exited -> nothing.
- new external id: only if the new id is of the type and the profile was not already messaged for
  this computation and destination (and is in the computation).
- profile merge: only if none of the profiles before the merge was already in the computation (or
  messaged on this destination).
- no `dedupes_on`: the legacy behaviour, all ids on every update.

Every function returns a `Decision` whose `branch` names the leaf it reached: the job counts each
branch as a metric, so what the tree did is visible, not only its output.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.contracts.compute import ComputeMessage, Trigger
from common.contracts.destinations import Destination
from common.contracts.profiles import ExternalId
from jobs.profile_dedupe.deliveries import Delivery
from jobs.profile_dedupe.profiles import Membership


@dataclass(frozen=True)
class Decision:
    branch: str
    delivery: Delivery | None = None  # None: dropped


def canonical(ids) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({i.pair for i in ids}))


def latest_of_type(ids: tuple[ExternalId, ...], id_type: str) -> ExternalId | None:
    """The most recently first-seen id of a type (ties: the greatest value, so the choice is stable)."""
    candidates = [i for i in ids if i.type == id_type]
    return max(candidates, key=lambda i: (i.first_seen_ms, i.value)) if candidates else None


def send_all(
    message: ComputeMessage, destination: Destination, ids: tuple[ExternalId, ...], prefix: str = "no_dedupes_on"
) -> Decision:
    """Legacy behaviour: every update, with every external id of the profile."""
    if not ids:
        return Decision(f"{prefix}.no_external_ids")
    return Decision(f"{prefix}.send_all", Delivery(destination.destination_id, canonical(ids)))


def _send_latest(branch: str, destination: Destination, ids: tuple[ExternalId, ...]) -> Decision:
    latest = latest_of_type(ids, destination.dedupes_on)
    if latest is None:
        return Decision(f"{branch}.no_id_of_type")
    return Decision(f"{branch}.send_some", Delivery(destination.destination_id, (latest.pair,)))


def on_value_changed(
    message: ComputeMessage, destination: Destination, membership: Membership, ids: tuple[ExternalId, ...]
) -> Decision:
    if not message.in_computation:
        return Decision("value_changed.exited.drop")
    if destination.destination_id in membership.messaged:
        return Decision("value_changed.already_messaged")
    return _send_latest("value_changed.entered", destination, ids)


def on_new_external_id(
    message: ComputeMessage, destination: Destination, membership: Membership, ids: tuple[ExternalId, ...]
) -> Decision:
    if not message.in_computation:
        return Decision("new_external_id.not_in_computation")
    if message.external_id.type != destination.dedupes_on:
        return Decision("new_external_id.not_of_type")
    if destination.destination_id in membership.messaged:
        return Decision("new_external_id.already_messaged")
    return _send_latest("new_external_id", destination, ids)


def on_profile_merge(
    message: ComputeMessage, destination: Destination, before_merge: list[Membership], ids: tuple[ExternalId, ...]
) -> Decision:
    """`before_merge`: this computation's membership of each profile as it was before the merge."""
    if not message.in_computation:
        return Decision("profile_merge.not_in_computation")
    if any(m.member or destination.destination_id in m.messaged for m in before_merge):
        return Decision("profile_merge.already_in_computation")
    return _send_latest("profile_merge", destination, ids)


def decide_new(
    message: ComputeMessage,
    destination: Destination,
    membership: Membership,
    before_merge: list[Membership],
    ids: tuple[ExternalId, ...],
) -> Decision:
    """The dedupe (new) path for one destination."""
    if not destination.dedupes_on:
        return send_all(message, destination, ids)
    if message.trigger is Trigger.VALUE_CHANGED:
        return on_value_changed(message, destination, membership, ids)
    if message.trigger is Trigger.NEW_EXTERNAL_ID:
        return on_new_external_id(message, destination, membership, ids)
    return on_profile_merge(message, destination, before_merge, ids)


def decide_legacy(message: ComputeMessage, destination: Destination, ids: tuple[ExternalId, ...]) -> Decision:
    """The legacy path ignores dedupes_on: all ids to every connected destination, every update."""
    return send_all(message, destination, ids, prefix="legacy")


# Every leaf the tree can reach (the job registers a counter for each, and for each `shadow.` twin).
BRANCHES = (
    "value_changed.entered.send_some",
    "value_changed.entered.no_id_of_type",
    "value_changed.already_messaged",
    "value_changed.exited.drop",
    "new_external_id.send_some",
    "new_external_id.not_in_computation",
    "new_external_id.not_of_type",
    "new_external_id.already_messaged",
    "profile_merge.send_some",
    "profile_merge.no_id_of_type",
    "profile_merge.not_in_computation",
    "profile_merge.already_in_computation",
    "no_dedupes_on.send_all",
    "no_dedupes_on.no_external_ids",
    "legacy.send_all",
    "legacy.no_external_ids",
    "destination_disabled",
)
