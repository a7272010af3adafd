"""The identity levels' state and forwarded items as plain tuples (no class in a savepoint).

A savepoint holds each key's `KeyState` (level_operator.IDENTIFIERS) and, in the batchers' pending
lists, the items in flight between levels. Pickled as they are, both would name classes of this
package, and a savepoint would break when a class moved. So both are packed to tuples of builtins
here, and the layout is pinned (tests/unit/test_state_layouts.py): add fields at the end, with a
default on unpack, or say in CHANGELOG.md that old savepoints cannot restore.
"""

from __future__ import annotations

import pickle

from jobs.action_streaming.fragments import DeviceEntry, Fragment
from jobs.action_streaming.levels import DeviceInfo, KeyState, Payload, Shipment, field_digest

_PROTOCOL = pickle.HIGHEST_PROTOCOL
PAYLOAD, SHIPMENT = 0, 1


def pack_fragment(f: Fragment) -> tuple:
    devices = {d: (e.version, e.present, e.fields, e.first_seen_ms) for d, e in f.devices.items()}
    return (
        f.identifiers,
        f.messages,
        f.ops,
        f.first_seen_ms,
        f.last_seen_ms,
        f.counters,
        f.registers,
        f.elements,
        devices,
        f.deleted,
    )


def unpack_fragment(packed: tuple) -> Fragment:
    identifiers, messages, ops, first, last, counters, registers, elements, devices, deleted = packed
    return Fragment(
        identifiers,
        messages,
        ops,
        first,
        last,
        counters,
        registers,
        elements,
        {d: DeviceEntry(*e) for d, e in devices.items()},
        deleted,
    )


def pack_key_state(state: KeyState) -> bytes:
    device = state.device
    packed_device = (
        (
            device.owner,
            device.owner_stamp,
            device.fields,
            device.last_seen_ms,
            device.version,
            device.digests,
            device.since_version,
            device.forgotten,
        )
        if device
        else None
    )
    root = pack_fragment(state.root) if state.root is not None else None
    return pickle.dumps((state.claimed_by, state.first_seen_ms, root, packed_device), protocol=_PROTOCOL)


def unpack_key_state(raw: bytes) -> KeyState:
    claimed_by, first_seen, root, device = pickle.loads(raw)
    return KeyState(
        claimed_by,
        first_seen,
        unpack_fragment(root) if root is not None else None,
        _unpack_device(device) if device is not None else None,
    )


def _unpack_device(packed: tuple) -> DeviceInfo:
    """A device key's state; one packed before forgets existed (five fields) gets its digests from
    its fields, and counts as held by its owner since its first version."""
    owner, stamp, fields, last_seen, version, *later = packed
    if not later:
        later = [{name: field_digest(value) for name, value in fields.items()}, 0, False]
    digests, since_version, forgotten = later
    return DeviceInfo(owner, tuple(stamp), fields, last_seen, version, digests, since_version, forgotten)


def pack_item(item: Payload | Shipment, encode_action) -> bytes:
    """A forwarded item; `encode_action` turns a message into bytes (the operator's Avro codec)."""
    if isinstance(item, Payload):
        return pickle.dumps((PAYLOAD, item.home, encode_action(item.action)), protocol=_PROTOCOL)
    return pickle.dumps((SHIPMENT, item.message_id, pack_fragment(item.fragment)), protocol=_PROTOCOL)


def unpack_item(raw: bytes, decode_action) -> Payload | Shipment:
    kind, first, rest = pickle.loads(raw)
    if kind == PAYLOAD:
        return Payload(decode_action(rest), first)
    return Shipment(unpack_fragment(rest), first)
