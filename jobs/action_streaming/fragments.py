"""A profile fragment: what is known of a user at one identifier, in a form that folds in any order.

Below the tenant (docs/identity.md), a user's data reaches its root identifier over several paths
(its own messages, messages of weaker identifiers it claimed, the profiles those had built before,
its devices' changes), and the order in which they arrive is timing. So the fold is *confluent*:
`merge` is commutative, associative, and every part of a fragment is a join of its inputs:
- identifiers: union, first seen = min;
- first and last seen: min and max of event times;
- counters per event name: sums (every message reaches one root once: exactly-once delivery);
- set/unset attributes: last writer wins by (event time, message id, position in the message);
- add_to_set/pull: last writer wins per element, after the attribute's last set/unset;
- devices: last writer wins by the device's own version (decided in order at the device's key), an
  add beating a pull of the same version;
- deleted: or; a deleted fragment keeps nothing else (a delete absorbs, docs/identity.md).
Then the document (`user_document`) is a function of the fragment alone: the same documents at any
parallelism and on any replay, whatever the interleaving.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.contracts.actions import Action, Value
from common.contracts.routing import earliest_ms

Stamp = tuple[int, str, int]  # (event time, message id, position of the operation in its message)
NO_STAMP: Stamp = (-1, "", -1)
MULTI = (("email", "emails"), ("phone", "phones"), ("anonymous_id", "anonymous_ids"))


@dataclass
class DeviceEntry:
    """A device as its owner's profile sees it: the device's version decides (device_state.py)."""

    version: int
    present: bool
    fields: dict[str, object] = field(default_factory=dict)  # the device document's fields when present
    first_seen_ms: int = 0  # when the device was first seen (its identity profile lists it)

    def newer_than(self, other: DeviceEntry | None) -> bool:
        return other is None or (self.version, self.present) > (other.version, other.present)


@dataclass
class Fragment:
    identifiers: dict[str, int] = field(default_factory=dict)  # key -> first seen (event time)
    messages: int = 0  # messages folded in: a profile has a document once it holds one
    # Contributions folded in (messages, claims, first-seen times, device changes), each counted once
    # whatever path it took: the document's version, the same at any parallelism.
    ops: int = 0
    first_seen_ms: int | None = None
    last_seen_ms: int | None = None
    counters: dict[str, int] = field(default_factory=dict)
    registers: dict[str, tuple[Stamp, bool, Value]] = field(default_factory=dict)  # set/unset: (stamp, set?, value)
    elements: dict[str, dict[str, tuple[Stamp, bool, Value]]] = field(default_factory=dict)  # add_to_set/pull
    devices: dict[str, DeviceEntry] = field(default_factory=dict)
    deleted: bool = False


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _later(a: tuple[Stamp, bool, Value] | None, b: tuple[Stamp, bool, Value]) -> bool:
    return a is None or b[0] > a[0]


def merge(into: Fragment, other: Fragment) -> None:
    """Fold `other` into `into` (in place). Commutative, associative and idempotent on everything but
    the sums, which every message contributes to once."""
    if into.deleted or other.deleted:
        clear(into)
        return
    for key, seen in other.identifiers.items():
        into.identifiers[key] = min(seen, into.identifiers.get(key, seen))
    into.messages += other.messages
    into.ops += other.ops
    into.first_seen_ms = _min(into.first_seen_ms, other.first_seen_ms)
    into.last_seen_ms = _max(into.last_seen_ms, other.last_seen_ms)
    for name, count in other.counters.items():
        into.counters[name] = into.counters.get(name, 0) + count
    for name, register in other.registers.items():
        if _later(into.registers.get(name), register):
            into.registers[name] = register
    for name, elements in other.elements.items():
        mine = into.elements.setdefault(name, {})
        for token, element in elements.items():
            if _later(mine.get(token), element):
                mine[token] = element
    for device_id, entry in other.devices.items():
        if entry.newer_than(into.devices.get(device_id)):
            into.devices[device_id] = entry


def clear(fragment: Fragment) -> None:
    """A delete: nothing of the user stays, and nothing that reaches it later will."""
    fragment.__dict__.update(vars(Fragment(deleted=True)))


def _token(value: Value) -> str:
    return repr(value)


def fold_message(fragment: Fragment, action: Action, home: str) -> None:
    """One message (its home identifier `home`) into the fragment of the user it belongs to."""
    if fragment.deleted:
        return
    earliest = earliest_ms(action)
    if not home.startswith("device:"):  # a device is listed by its entry (devices), not as an identifier
        fragment.identifiers[home] = min(earliest, fragment.identifiers.get(home, earliest))
    fragment.messages += 1
    fragment.ops += 1
    fragment.first_seen_ms = _min(fragment.first_seen_ms, earliest)
    last = max((e.time_ms for e in action.events), default=action.time_ms)
    fragment.last_seen_ms = _max(fragment.last_seen_ms, last)
    for event in action.events:
        fragment.counters[event.name] = fragment.counters.get(event.name, 0) + 1
    for position, op in enumerate(action.attributes):
        stamp: Stamp = (action.time_ms, action.message_id, position)
        if op.op in ("set", "unset"):
            register = (stamp, op.op == "set", op.value if op.op == "set" else None)
            if _later(fragment.registers.get(op.name), register):
                fragment.registers[op.name] = register
            continue
        elements = fragment.elements.setdefault(op.name, {})
        for value in op.value if isinstance(op.value, list) else [op.value]:
            element = (stamp, op.op == "add_to_set", value)
            if _later(elements.get(_token(value)), element):
                elements[_token(value)] = element


def attributes(fragment: Fragment) -> dict[str, Value]:
    """The attributes the document shows: each one's last set/unset, then the add_to_set/pull of
    its elements written after it (last writer per element); list elements in the order they were
    added (by stamp)."""
    out: dict[str, Value] = {}
    for name in sorted(set(fragment.registers) | set(fragment.elements)):
        register = fragment.registers.get(name)
        since = register[0] if register else NO_STAMP
        later = sorted(
            (element for element in fragment.elements.get(name, {}).values() if element[0] > since),
            key=lambda element: (element[0], _token(element[2])),
        )
        present = register is not None and register[1]
        if not later:
            if present:
                out[name] = register[2]
            continue
        base = register[2] if present else []
        values = list(base) if isinstance(base, list) else ([] if base is None else [base])
        pulled = {_token(element[2]) for element in later if not element[1]}
        values = [v for v in values if _token(v) not in pulled]
        for _stamp, added, value in later:
            if added and value not in values:
                values.append(value)
        out[name] = values
    return out


def listed_identifiers(fragment: Fragment, cap: int) -> tuple[dict[str, int], int]:
    """The identifiers the document and the identity profile list, and how many the cap leaves out:
    at most `cap` emails + phones + anonymous ids, the first seen first (ties by key)."""
    capped_kinds = {kind for kind, _ in MULTI}
    ordered = sorted(fragment.identifiers.items(), key=lambda item: (item[1], item[0]))
    listed, left_out, count = {}, 0, 0
    for key, seen in ordered:
        if key.partition(":")[0] in capped_kinds:
            if count >= cap:
                left_out += 1
                continue
            count += 1
        listed[key] = seen
    return listed, left_out


def present_devices(fragment: Fragment) -> list[str]:
    return sorted(device_id for device_id, entry in fragment.devices.items() if entry.present)


def user_document(
    tenant: str, user_id: str, fragment: Fragment, cap: int, listed: dict[str, int] | None = None
) -> dict | None:
    """The user's MongoDB document (without `version`), or None while it has no message. `listed`:
    what `listed_identifiers` gives, when the caller has it already."""
    if fragment.deleted or not fragment.messages:
        return None
    if listed is None:
        listed, _ = listed_identifiers(fragment, cap)
    doc: dict = {"tenant": tenant, "user_id": user_id}
    customer = [key.partition(":")[2] for key in listed if key.startswith("customer_id:")]
    if customer:
        doc["customer_id"] = customer[0]
    doc["first_seen"] = fragment.first_seen_ms
    doc["last_seen"] = fragment.last_seen_ms
    for kind, plural in MULTI:
        doc[plural] = [key.partition(":")[2] for key in listed if key.startswith(kind + ":")]
    doc["devices"] = present_devices(fragment)
    doc["attributes"] = attributes(fragment)
    doc["counters"] = dict(sorted(fragment.counters.items()))
    return doc
