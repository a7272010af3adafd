"""Identity resolution: which user a message belongs to, and what that changes (docs/identity.md).

Pure: `resolve` reads the identity index and users through an `IdentityStore` and returns a
`Resolution` saying what to write; the Flink operator applies it to keyed state. Every decision is a
function of the store and the message, so a replay decides the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol

from common.contracts.actions import Identifiers

MULTI_KINDS = ("emails", "phones", "anonymous_ids")
KEY_PREFIX = {"customer_id": "customer_id", "emails": "email", "phones": "phone", "anonymous_ids": "anonymous_id"}
KIND_OF_PREFIX = {prefix: kind for kind, prefix in KEY_PREFIX.items()}


@dataclass
class UserIdentity:
    user_id: str
    first_seen_ms: int
    customer_id: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    anonymous_ids: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    # identifier key -> event time it was first linked to this user (for identity profiles / dedupe)
    first_seen_ids: dict[str, int] = field(default_factory=dict)

    def identifier_count(self) -> int:
        """What the cap counts: emails + phones + anonymous ids (a customer_id is at most one)."""
        return len(self.emails) + len(self.phones) + len(self.anonymous_ids)

    def keys(self) -> list[str]:
        out = [f"customer_id:{self.customer_id}"] if self.customer_id else []
        for kind in MULTI_KINDS:
            out += [f"{KEY_PREFIX[kind]}:{v}" for v in getattr(self, kind)]
        return out + [f"device:{d}" for d in self.devices]


class IdentityStore(Protocol):
    def owner(self, key: str) -> str | None: ...
    def user(self, user_id: str) -> UserIdentity | None: ...


class MemoryIdentityStore:
    """A dict-backed store: for tests and for reference models."""

    def __init__(self):
        self.index: dict[str, str] = {}
        self.users: dict[str, UserIdentity] = {}

    def owner(self, key: str) -> str | None:
        return self.index.get(key)

    def user(self, user_id: str) -> UserIdentity | None:
        return self.users.get(user_id)

    def apply(self, r: Resolution) -> None:
        for key in r.index_removes:
            self.index.pop(key, None)
        self.index.update(r.index_puts)
        for user_id in r.removed_users:
            self.users.pop(user_id, None)
        for user in [r.user, *r.updated_users] if r.user else r.updated_users:
            self.users[user.user_id] = user


@dataclass
class Resolution:
    user: UserIdentity | None  # the user the message belongs to (None after a delete)
    created: bool = False
    merged: list[str] = field(default_factory=list)  # users folded into `user`, in fold order
    added: list[str] = field(default_factory=list)  # identifier keys newly linked to `user`
    capped: list[str] = field(default_factory=list)  # links refused by the identifier cap
    conflicts: list[str] = field(default_factory=list)  # keys left with a user of another customer_id
    device_moved_from: str | None = None
    index_puts: dict[str, str] = field(default_factory=dict)
    index_removes: list[str] = field(default_factory=list)
    updated_users: list[UserIdentity] = field(default_factory=list)  # other users changed (device moved away)
    removed_users: list[str] = field(default_factory=list)


def message_keys(ids: Identifiers) -> list[str]:
    """The message's identifier keys, strongest first (customer_id, emails, phones, anonymous ids)."""
    keys = [f"customer_id:{ids.customer_id}"] if ids.customer_id else []
    for kind in MULTI_KINDS:
        keys += [f"{KEY_PREFIX[kind]}:{v}" for v in getattr(ids, kind)]
    return keys


def new_user_id(tenant: str, message_id: str, first_key: str) -> str:
    return "u-" + hashlib.sha256(f"{tenant}|{message_id}|{first_key}".encode()).hexdigest()[:20]


def _survivor_order(user: UserIdentity):
    return (user.customer_id is None, user.first_seen_ms, user.user_id)


def resolve(
    tenant: str, message_id: str, ids: Identifiers, time_ms: int, store: IdentityStore, max_identifiers: int
) -> Resolution:
    keys = message_keys(ids)
    device_key = f"device:{ids.device_id}" if ids.device_id else None
    owners = {key: store.owner(key) for key in keys}
    matched: list[UserIdentity] = []
    for key in keys:
        owner = owners[key]
        if owner and owner not in [u.user_id for u in matched]:
            matched.append(store.user(owner))
    device_owner = store.owner(device_key) if device_key else None
    if not keys and device_owner:  # a device-only message belongs to the device's owner
        matched.append(store.user(device_owner))

    # customer_id rule: users with a different customer_id never merge with the target.
    target_cid = ids.customer_id or next((u.customer_id for u in matched if u.customer_id), None)
    candidates = [u for u in matched if u.customer_id in (None, target_cid)]
    conflicting = {u.user_id for u in matched if u not in candidates}

    r = Resolution(user=None)
    if not candidates:
        first = keys[0] if keys else device_key
        survivor = UserIdentity(new_user_id(tenant, message_id, first), time_ms)
        r.created = True
    else:
        ordered = sorted(candidates, key=_survivor_order)
        survivor = _copy(ordered[0])
        for loser in ordered[1:]:
            if survivor.identifier_count() + loser.identifier_count() > max_identifiers:
                r.capped += [k for k in loser.keys() if not k.startswith("device:")]
                conflicting.add(loser.user_id)  # stays a separate user; its keys stay its own
                continue
            _fold(survivor, loser)
            r.merged.append(loser.user_id)
            r.removed_users.append(loser.user_id)
            r.index_puts.update({k: survivor.user_id for k in loser.keys()})
    survivor.first_seen_ms = min(survivor.first_seen_ms, time_ms)

    for key in keys:
        owner = owners[key]
        if owner in conflicting:
            r.conflicts.append(key)
            continue
        if owner is not None:
            continue  # already the survivor's (or a merged loser's, re-pointed above)
        kind, value = key.split(":", 1)
        if kind == "customer_id":
            if survivor.customer_id and survivor.customer_id != value:
                r.conflicts.append(key)
                continue
            survivor.customer_id = value
        else:
            if survivor.identifier_count() >= max_identifiers:
                r.capped.append(key)
                continue
            getattr(survivor, KIND_OF_PREFIX[kind]).append(value)
        r.added.append(key)
        r.index_puts[key] = survivor.user_id
        survivor.first_seen_ids[key] = time_ms

    if device_key:
        if device_owner and device_owner != survivor.user_id and device_owner not in r.merged:
            previous = _copy(store.user(device_owner))
            previous.devices.remove(ids.device_id)
            r.updated_users.append(previous)
            r.device_moved_from = device_owner
        if ids.device_id not in survivor.devices:
            survivor.devices.append(ids.device_id)
            r.index_puts[device_key] = survivor.user_id
            survivor.first_seen_ids.setdefault(device_key, time_ms)
    r.user = survivor
    return r


def delete(user_id: str, store: IdentityStore) -> Resolution:
    """Forget a user: its identifiers and devices leave the index, its state goes."""
    user = store.user(user_id)
    if user is None:
        return Resolution(user=None)
    return Resolution(user=None, index_removes=user.keys(), removed_users=[user_id])


def _copy(user: UserIdentity) -> UserIdentity:
    return UserIdentity(
        user.user_id,
        user.first_seen_ms,
        user.customer_id,
        list(user.emails),
        list(user.phones),
        list(user.anonymous_ids),
        list(user.devices),
        dict(user.first_seen_ids),
    )


def _fold(survivor: UserIdentity, loser: UserIdentity) -> None:
    survivor.customer_id = survivor.customer_id or loser.customer_id
    survivor.first_seen_ms = min(survivor.first_seen_ms, loser.first_seen_ms)
    for kind in (*MULTI_KINDS, "devices"):
        values = getattr(survivor, kind)
        values += [v for v in getattr(loser, kind) if v not in values]
    for key, seen in loser.first_seen_ids.items():
        survivor.first_seen_ids[key] = min(seen, survivor.first_seen_ids.get(key, seen))
