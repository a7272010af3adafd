"""Identity below the tenant: what one identifier's key does with each record (docs/identity.md).
Pure: the state of one key in, its effects out; the Flink operators and the
reference model (harness/models/identity_network.py) run exactly this.

Every identifier key (tenant, "kind:value") lives in the stage of its kind's level
(common/contracts/routing.py). It sees two kinds of input:
- *routed* records, read from `hw.unified.actions` partitioned by that key, always in one order: its
  messages (it is their home) and links (it was named beside a stronger home). Every decision that
  depends on order is taken here, from these alone: which stronger identifier claims the key (the
  first seen; never changed), who owns a device (the latest message by event time).
- *forwarded* items from weaker keys: messages whose home it claimed, profile fragments of keys it
  claimed, device entries. Their arrival order is timing; nothing here depends on it, because
  fragments fold confluently (fragments.py).

Keys are *sealed* (routing.seal: the kind and a digest): the state, the forward targets and the
device owners never name an identifier itself, so a delete, which clears its root's profile, leaves
none behind there. A routed record brings its key raw, for what the document lists.

A key that nothing claimed is a *root*: it holds the profile (`Fragment`) of its user, whose id
derives from the key, and writes the user's document. A claimed key forwards everything to its
claimer, so everything flows up, from weaker to stronger levels, and the job stays a DAG.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from common.contracts.actions import Action, Event, Value
from common.contracts.deltas import Delta, doc_id
from common.contracts.routing import LINK, earliest_ms, home_key, level, seal
from jobs.action_streaming.device_state import device_doc_id
from jobs.action_streaming.fragments import (
    DeviceEntry,
    Fragment,
    attributes,
    clear,
    fold_message,
    listed_identifiers,
    merge,
    user_document,
)

DEVICE_FIELDS = ("platform", "app_version", "os_version", "push_token")
# A device document's version: the device's own version (decided at its key) times this, plus the
# level of the root that wrote it. The same device version re-written by a stronger root after a
# merge (with the new owner) is newer; a delete (DELETED_SLOT) beats every root's write of it.
DEVICE_VERSION_SCALE = 8
DELETED_SLOT = 7
# A user document's version is its profile's contribution count (fragments.Fragment.ops), the same at
# any parallelism. A merged-away or deleted user never comes back (claims and deletes are for ever),
# so its tombstone takes the last version there is.
GONE_VERSION = 2**63 - 1
COUNTS = (
    "messages",
    "events",
    "deletes",
    "merges",
    "conflicts",
    "links_refused_by_level",
    "capped",
    "dropped_deleted",
    "devices_forgotten",
    "device_fields_restarted",
)


def field_digest(value: object) -> str:
    """What a device key keeps of a field's value to see it change (64 bits of SHA-256)."""
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def user_id(key: str) -> str:
    """A user's id, from its root's sealed key: a hash of (tenant, root identifier), so every path
    that reaches the root names it alike."""
    return "u-" + key.partition(":#")[2][:20]


@dataclass
class Payload:
    """A message on its way to the root of its home."""

    action: Action
    home: str


@dataclass
class Shipment:
    """A profile fragment on its way to a root: a claimed key's profile, an identifier's first seen
    time, a device entry. `message_id`: the message that caused it."""

    fragment: Fragment
    message_id: str


@dataclass
class Forget:
    """A deleted user's root tells the key of a device it had (through `hw.identity.forget`: the graph
    only flows up) to forget the device's fields. `version`: the device's version in the root's entry;
    the key forgets only if the device has not changed hands since."""

    version: int


Item = Payload | Shipment | Forget


@dataclass
class DeviceInfo:
    """What a device's own key decides, in the order of its records."""

    owner: str | None = None  # the sealed home key of the message that owns it (the latest by event time)
    owner_stamp: tuple[int, str] = (-1, "")
    fields: dict[str, object] = field(default_factory=dict)  # since it last changed hands; empty once forgotten
    last_seen_ms: int = 0
    version: int = 0
    # What decides a change: a digest per field, which a forget leaves, so the versions and everything
    # sent do not depend on when the forget arrived.
    digests: dict[str, str] = field(default_factory=dict)
    since_version: int = 0  # the version at which the current owner took it
    forgotten: bool = False  # its owner was deleted: no field value is kept until it changes hands


@dataclass
class KeyState:
    """The state of one identifier key."""

    claimed_by: str | None = None  # the sealed stronger key it forwards to, once claimed (never changes)
    first_seen_ms: int | None = None
    root: Fragment | None = None  # its user's profile, while it is a root and holds anything
    device: DeviceInfo | None = None  # device keys only


@dataclass
class Effects:
    forwards: list[tuple[str, Item]] = field(default_factory=list)  # (sealed target key, item)
    deltas: list[tuple[str, Delta]] = field(default_factory=list)  # (message id, delta)
    events: list[tuple[str, str, int, Event, dict[str, Value]]] = field(default_factory=list)
    # (message id, user id, index, event, attribute snapshot)
    profiles: list[tuple[str, dict[str, int], str | None, bool]] = field(default_factory=list)
    # (user id, identifier key -> first seen, merged into, deleted)
    forgets: list[tuple[str, Forget]] = field(default_factory=list)  # (sealed device key, forget)
    counts: Counter = field(default_factory=Counter)


@dataclass
class Rules:
    tenant: str
    cap: int  # the identifier cap: emails + phones + anonymous ids a user lists
    snapshot_attributes: tuple[str, ...] | None = None


def on_routed(rules: Rules, raw: str, state: KeyState, record: Action, out: Effects) -> None:
    """A record of `hw.unified.actions` at its own key (`raw`, as routed: "kind:value"; the state is
    the sealed key's), in the partition's order."""
    key = seal(rules.tenant, raw)
    seen = earliest_ms(record)
    if key.startswith("device:"):
        _device_record(rules, raw, key, state, record, out)
        return
    lowered = state.first_seen_ms is None or seen < state.first_seen_ms
    if lowered:
        state.first_seen_ms = seen
    if record.kind != LINK:  # the message itself carries its home's first-seen time to the root
        on_forwarded(rules, key, state, Payload(record, raw), out)
    elif not _link(rules, raw, key, state, record, out) and lowered:  # a claim carries it too
        shipment = Shipment(Fragment(identifiers={raw: seen}, ops=1), record.message_id)
        on_forwarded(rules, key, state, shipment, out)


def on_forwarded(rules: Rules, key: str, state: KeyState, item: Item, out: Effects) -> None:
    """An item for the user of (sealed) `key`: forwarded up if the key is claimed, folded if it is the
    root; a forget is the device key's own."""
    if isinstance(item, Forget):
        _forget(state.device, item, out)
        return
    if state.claimed_by is not None:
        target = state.claimed_by
        if key.startswith("device:") and isinstance(item, Payload):
            target = state.device.owner  # a device-only message belongs to the device's current owner
        out.forwards.append((target, item))
        return
    _fold(rules, key, state, item, out)


def _link(rules: Rules, raw: str, key: str, state: KeyState, record: Action, out: Effects) -> bool:
    """`key` named beside a stronger home: the first stronger home claims it; any other is refused.
    Whether this link claimed it."""
    home_raw = home_key(record.identifiers)
    home = seal(rules.tenant, home_raw)
    if state.claimed_by is None and level(home) > level(key):
        _claim(rules, raw, key, state, home, record.message_id, out)
        return True
    if state.claimed_by is None or state.claimed_by != home:
        both_customers = home.startswith("customer_id:") and (state.claimed_by or "").startswith("customer_id:")
        out.counts["conflicts" if both_customers else "links_refused_by_level"] += 1
    return False


def _claim(rules: Rules, raw: str, key: str, state: KeyState, claimer: str, message_id: str, out: Effects) -> None:
    """`claimer` claims `key` (`raw` as routed): the key's profile goes up once, its user (if it had a
    document) is merged away, and from now on the key forwards everything to the claimer."""
    fragment = state.root or Fragment()
    if state.first_seen_ms is not None and not key.startswith("device:") and not fragment.deleted:
        fragment.identifiers[raw] = min(state.first_seen_ms, fragment.identifiers.get(raw, state.first_seen_ms))
    fragment.ops += 1
    if state.root is not None and state.root.messages and not state.root.deleted:
        merged = user_id(key)
        out.deltas.append((message_id, Delta("users", doc_id(rules.tenant, merged), GONE_VERSION, delete=True)))
        out.profiles.append((merged, {}, user_id(claimer), False))
        out.counts["merges"] += 1
    state.claimed_by = claimer
    state.root = None
    out.forwards.append((claimer, Shipment(fragment, message_id)))


def _device_record(rules: Rules, raw: str, key: str, state: KeyState, record: Action, out: Effects) -> None:
    """A device's record: its fields and last seen, its owner (the latest message by event time that
    names a stronger identifier beside it), and, for a device-only message, where the message goes."""
    device = state.device = state.device or DeviceInfo()
    seen = earliest_ms(record)
    state.first_seen_ms = seen if state.first_seen_ms is None else min(state.first_seen_ms, seen)
    home_raw = home_key(record.identifiers)
    home = seal(rules.tenant, home_raw)
    owner_before = device.owner
    changed = False
    if home_raw != raw and (record.time_ms, record.message_id) > device.owner_stamp:
        device.owner_stamp = (record.time_ms, record.message_id)
        changed = device.owner != home
        device.owner = home
    if owner_before is not None and owner_before != device.owner:
        # A device that changes hands starts its fields over: what its new owner's messages say. So
        # what a deleted owner's messages set never reaches the next owner, whenever the forget comes.
        resent = {name for name in DEVICE_FIELDS if record.device and getattr(record.device, name) is not None}
        out.counts["device_fields_restarted"] += int(bool(set(device.digests) - resent))
        device.fields, device.digests, device.forgotten = {}, {}, False
    for name in DEVICE_FIELDS:
        value = getattr(record.device, name) if record.device else None
        if value is None:
            continue
        digest = field_digest(value)
        if device.digests.get(name) != digest:
            device.digests[name] = digest
            changed = True
        if not device.forgotten:
            device.fields[name] = value
    if record.time_ms > device.last_seen_ms:
        device.last_seen_ms = record.time_ms
        changed = True
    if changed:
        device.version += 1
        if owner_before != device.owner:
            device.since_version = device.version
        entry = DeviceEntry(
            device.version, True, {**device.fields, "last_seen": device.last_seen_ms}, state.first_seen_ms
        )
        device_id = raw.partition(":")[2]
        if owner_before is not None and owner_before != device.owner:
            gone = Fragment(devices={device_id: DeviceEntry(device.version, False)}, ops=1)
            out.forwards.append((owner_before, Shipment(gone, record.message_id)))
        claimed_now = device.owner is not None and state.claimed_by is None
        if claimed_now:
            _claim(rules, raw, key, state, device.owner, record.message_id, out)  # its first owner takes its profile
        target = device.owner
        # Only a change of owner (or the first entry) can change a user document: a change of the
        # device's fields alone is not a contribution to the user (no version of its own there).
        moved = owner_before != device.owner or device.version == 1
        shipment = Shipment(Fragment(devices={device_id: entry}, ops=int(moved)), record.message_id)
        if target is None:
            _fold(rules, key, state, shipment, out)
        elif claimed_now and not out.forwards[-1][1].fragment.deleted:
            # The claim just sent the owner the device's profile: the entry goes in the same shipment
            # (merge is a join, so the root folds the same), one fold and one delta instead of two.
            # Not into a deleted profile, which takes no entry and deletes the device the entry names.
            merge(out.forwards[-1][1].fragment, shipment.fragment)
        else:
            out.forwards.append((target, shipment))
    if record.kind != LINK:
        on_forwarded(rules, key, state, Payload(record, raw), out)


def _forget(device: DeviceInfo | None, forget: Forget, out: Effects) -> None:
    """A deleted root's forget at its device's key: the device's field values go, unless the device
    changed hands after the version the root knew (a new owner's fields are the new owner's). Nothing
    is sent and no version moves: every later change is decided on digests, which stay, so the
    documents and versions are the same whether the forget came early or late."""
    if device is None or device.since_version > forget.version:
        return
    device.fields = {}
    device.forgotten = True
    out.counts["devices_forgotten"] += 1


def _fold(rules: Rules, key: str, state: KeyState, item: Item, out: Effects) -> None:
    """`key` is the root: fold the item into its profile and write what changed."""
    tenant, uid = rules.tenant, user_id(key)
    root = state.root = state.root or Fragment()
    was_deleted, ops_before = root.deleted, root.ops
    listed_before, before_left_out = listed_identifiers(root, rules.cap)
    before_doc = user_document(tenant, uid, root, rules.cap, listed_before)
    before_ids = _profile_ids(root, listed_before)
    # Only a shipment's devices can change here; a delete (clear) swaps the dict, so this one stays.
    before_devices = root.devices
    incoming = item.fragment.devices if isinstance(item, Shipment) else {}
    entries_before = {device_id: before_devices.get(device_id) for device_id in incoming}
    if isinstance(item, Payload):
        message_id = item.action.message_id
        if item.action.kind == "delete_user":
            out.counts["deletes"] += 1
            if root.deleted:
                return
            clear(root)
        elif root.deleted:
            out.counts["dropped_deleted"] += 1
            return
        else:
            fold_message(root, item.action, item.home)
            out.counts["messages"] += 1
    else:
        message_id = item.message_id
        merge(root, item.fragment)
    listed_after, left_out = listed_identifiers(root, rules.cap)
    after_doc = user_document(tenant, uid, root, rules.cap, listed_after)
    # Every contribution moves the version, even one the document does not show: the version is then
    # the contribution count, whatever order they came in.
    if after_doc != before_doc or (after_doc is not None and root.ops != ops_before):
        version = GONE_VERSION if after_doc is None else root.ops
        out.deltas.append((message_id, _user_delta(tenant, uid, before_doc, after_doc, version)))
    if root.deleted:
        devices = {} if was_deleted else dict(before_devices)
        for device_id, entry in incoming.items():
            if entry.newer_than(devices.get(device_id)):
                devices[device_id] = entry
        _delete_devices(rules, devices, message_id, out)
        if not was_deleted and before_doc is not None:
            out.profiles.append((uid, {}, None, True))
        return
    _write_devices(rules, key, uid, entries_before, root, message_id, out)
    after_ids = _profile_ids(root, listed_after)
    if after_doc is not None and (after_ids != before_ids or before_doc is None):
        out.profiles.append((uid, after_ids, None, False))
    out.counts["capped"] += max(0, left_out - before_left_out)
    if isinstance(item, Payload):
        action = item.action
        out.counts["events"] += len(action.events)
        shown = attributes(root)
        wanted = rules.snapshot_attributes
        snapshot = {k: v for k, v in shown.items() if wanted is None or k in wanted}
        out.events += [(action.message_id, uid, i, event, snapshot) for i, event in enumerate(action.events)]


def _profile_ids(root: Fragment, listed: dict[str, int]) -> dict[str, int]:
    """What the identity profile lists: the identifiers within the cap, and the devices it owns."""
    listed = dict(listed)
    for device_id, entry in sorted(root.devices.items()):
        if entry.present:
            listed[f"device:{device_id}"] = entry.first_seen_ms
    return listed


def _write_devices(
    rules: Rules,
    key: str,
    uid: str,
    before: dict[str, DeviceEntry | None],
    root: Fragment,
    message_id: str,
    out: Effects,
) -> None:
    """Device documents: written by the root that owns the device, naming its user as owner, under a
    version that only a newer device change or a stronger root (after a merge) beats. `before`: the
    entries of the devices the fold could change, as they were."""
    for device_id in sorted(before):
        entry = root.devices[device_id]
        if entry.present and before[device_id] != entry:
            version = entry.version * DEVICE_VERSION_SCALE + level(key)
            fields = {"device_id": device_id, "owner": uid, **entry.fields, "tenant": rules.tenant, "version": version}
            # A device that changed hands starts its fields over: what it no longer has is unset.
            gone = [name for name in DEVICE_FIELDS if name not in entry.fields]
            delta = Delta("devices", device_doc_id(rules.tenant, device_id), version, set=fields, unset=gone)
            out.deltas.append((message_id, delta))


def _delete_devices(rules: Rules, devices: dict[str, DeviceEntry], message_id: str, out: Effects) -> None:
    """A deleted user's devices go with it, each under a version no root's write of the same device
    version beats (a newer change of the device, owned by someone else, does), and each device's key
    is told to forget its fields."""
    for device_id, entry in sorted(devices.items()):
        if entry.present:
            version = entry.version * DEVICE_VERSION_SCALE + DELETED_SLOT
            out.deltas.append(
                (message_id, Delta("devices", device_doc_id(rules.tenant, device_id), version, delete=True))
            )
            out.forgets.append((seal(rules.tenant, f"device:{device_id}"), Forget(entry.version)))


def _user_delta(tenant: str, uid: str, before: dict | None, after: dict | None, version: int) -> Delta:
    """The delta that turns document `before` into `after`: nested fields (attributes, counters) by
    path, lists whole (their order is part of the document, so it is set, not appended to)."""
    d = Delta("users", doc_id(tenant, uid), version)
    if after is None:
        d.delete = True
        return d
    before = before or {}
    for name, value in after.items():
        if isinstance(value, dict):  # empty: no field at all (Avro carries no maps in `set`; and one shape)
            old = before.get(name) or {}
            if not value:
                if old:
                    d.unset.append(name)
                continue
            for sub, sub_value in value.items():
                if sub not in old or old[sub] != sub_value or type(old[sub]) is not type(sub_value):
                    d.set[f"{name}.{sub}"] = sub_value
            d.unset += [f"{name}.{sub}" for sub in old if sub not in value]
        elif before.get(name) != value or name not in before:
            d.set[name] = value
    d.unset += [name for name in before if name not in after]
    d.set["version"] = version
    return d
