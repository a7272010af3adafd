"""A user's state and how a message folds into it: attributes (last writer by event time wins),
counters, seen times, merges of other users; and the fewest idempotent deltas that carry the change to
the user's MongoDB document (common/contracts/deltas.py).

For each message the new state is computed from the old one and only what changed is emitted.
Counters are *set* to their new totals, never incremented, so a repeated delta changes nothing.
Times are event times: `last_seen` never moves back for a late event, `first_seen` never forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.contracts.actions import Action, Value
from common.contracts.deltas import Delta, doc_id
from jobs.action_streaming.identity import Resolution, UserIdentity


@dataclass
class UserState:
    identity: UserIdentity
    attributes: dict[str, Value] = field(default_factory=dict)
    last_seen_ms: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    version: int = 0
    # attribute -> (event time, message id) of the set/unset that wrote it: last writer wins by event
    # time, so the result does not depend on how messages from different sources interleave.
    attribute_stamps: dict[str, tuple[int, str]] = field(default_factory=dict)


IDENTIFIER_LISTS = ("emails", "phones", "anonymous_ids", "devices")


def apply_user(
    tenant: str, state: UserState | None, action: Action, resolution: Resolution, merged: list[UserState]
) -> tuple[UserState, list[Delta]]:
    """Fold `action` (and the users `resolution` merged away) into the user's state; return the new
    state and the deltas: the survivor's update, a delete per merged user."""
    identity = resolution.user
    old = state or UserState(identity=UserIdentity(identity.user_id, identity.first_seen_ms))
    new = UserState(
        identity=identity,
        attributes=dict(old.attributes),
        last_seen_ms=old.last_seen_ms,
        counters=dict(old.counters),
        version=old.version,
        attribute_stamps=dict(old.attribute_stamps),
    )
    for loser in merged:  # the later write of each attribute wins; counters add up; seen times widen
        for name, stamp in loser.attribute_stamps.items():
            if stamp > new.attribute_stamps.get(name, (-1, "")):
                new.attribute_stamps[name] = stamp
                if name in loser.attributes:
                    new.attributes[name] = loser.attributes[name]
                else:
                    new.attributes.pop(name, None)
        for name, value in loser.attributes.items():
            new.attributes.setdefault(name, value)
        for name, count in loser.counters.items():
            new.counters[name] = new.counters.get(name, 0) + count
        new.last_seen_ms = max(new.last_seen_ms, loser.last_seen_ms)
    for event in action.events:
        new.counters[event.name] = new.counters.get(event.name, 0) + 1
        new.last_seen_ms = max(new.last_seen_ms, event.time_ms)
    if not action.events:
        new.last_seen_ms = max(new.last_seen_ms, action.time_ms)
    stamp = (action.time_ms, action.message_id)
    for op in action.attributes:
        _apply_attribute(new, op.op, op.name, op.value, stamp)

    delta = diff_user(tenant, old if state else None, new)
    deltas = []
    if not delta.is_empty():
        new.version = old.version + 1 + sum(loser.version for loser in merged)
        delta.version = new.version
        delta.set["version"] = new.version
        deltas.append(delta)
    for loser in merged:
        deltas.append(Delta("users", doc_id(tenant, loser.identity.user_id), loser.version + 1, delete=True))
    return new, deltas


def _apply_attribute(state: UserState, op: str, name: str, value: Value, stamp: tuple[int, str]) -> None:
    """set/unset: last writer by event time wins (an unset leaves its stamp, so an older set arriving
    later does not bring the value back). add_to_set/pull apply in arrival order."""
    attributes = state.attributes
    if op in ("set", "unset"):
        if stamp < state.attribute_stamps.get(name, (-1, "")):
            return
        state.attribute_stamps[name] = stamp
        if op == "set":
            attributes[name] = value
        else:
            attributes.pop(name, None)
    else:
        items = value if isinstance(value, list) else [value]
        current = attributes.get(name)
        current = list(current) if isinstance(current, list) else ([] if current is None else [current])
        if op == "add_to_set":
            current += [v for v in items if v not in current]
        else:  # pull
            current = [v for v in current if v not in items]
        attributes[name] = current


def diff_user(tenant: str, old: UserState | None, new: UserState) -> Delta:
    """The fewest idempotent operations that turn `old`'s document into `new`'s."""
    d = Delta("users", doc_id(tenant, new.identity.user_id), new.version)
    if old is None:
        d.set.update({"tenant": tenant, "user_id": new.identity.user_id})
    o_id = old.identity if old else None
    n_id = new.identity
    if (o_id.customer_id if o_id else None) != n_id.customer_id and n_id.customer_id:
        d.set["customer_id"] = n_id.customer_id
    if not o_id or o_id.first_seen_ms != n_id.first_seen_ms:
        d.set["first_seen"] = n_id.first_seen_ms
    if not old or old.last_seen_ms != new.last_seen_ms:
        d.set["last_seen"] = new.last_seen_ms
    for kind in IDENTIFIER_LISTS:
        before, after = (getattr(o_id, kind) if o_id else []), getattr(n_id, kind)
        added = [v for v in after if v not in before]
        removed = [v for v in before if v not in after]
        if added:
            d.add_to_set[kind] = added
        if removed:
            d.pull[kind] = removed
    before_attrs = old.attributes if old else {}
    for name, value in new.attributes.items():
        if name not in before_attrs or before_attrs[name] != value or type(before_attrs[name]) is not type(value):
            d.set[f"attributes.{name}"] = value
    d.unset += [f"attributes.{name}" for name in before_attrs if name not in new.attributes]
    before_counts = old.counters if old else {}
    for name, count in new.counters.items():
        if before_counts.get(name) != count:
            d.set[f"counters.{name}"] = count
    return d


def delete_user(tenant: str, state: UserState) -> Delta:
    return Delta("users", doc_id(tenant, state.identity.user_id), state.version + 1, delete=True)


def pull_device(tenant: str, state: UserState, device_id: str) -> tuple[UserState, Delta]:
    """A device moved to another user: its old owner loses it."""
    state.identity.devices = [d for d in state.identity.devices if d != device_id]
    state.version += 1
    return state, Delta(
        "users",
        doc_id(tenant, state.identity.user_id),
        state.version,
        set={"version": state.version},
        pull={"devices": [device_id]},
    )
