"""A device's state (owner, platform, versions, push token, last seen) and the delta that carries a
change to its MongoDB document. A device belongs to one user at a time: the latest message that names
it decides (identity.py moves it)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from common.contracts.deltas import Delta, doc_id


def device_doc_id(tenant: str, device_id: str) -> str:
    """A device document's `_id` (and its deltas' Kafka key): a hash of the device id, not the id. A
    deleted document leaves a tombstone under its `_id` (reaction-streaming keeps it, so that a
    replayed older delta cannot bring the document back): the tombstone must not hold the identifier."""
    return doc_id(tenant, "dev-" + hashlib.sha256(f"{tenant}|{device_id}".encode()).hexdigest()[:32])


@dataclass
class DeviceState:
    device_id: str
    owner: str
    platform: str | None = None
    app_version: str | None = None
    os_version: str | None = None
    push_token: str | None = None
    last_seen_ms: int = 0
    version: int = 0


def apply_device(
    tenant: str, state: DeviceState | None, device_id: str, owner: str, time_ms: int, fields: dict[str, str | None]
) -> tuple[DeviceState, Delta | None]:
    """Device document: owner, platform, versions, push token, last seen. None if nothing changed."""
    new = DeviceState(device_id, owner) if state is None else DeviceState(**vars(state))
    new.owner = owner
    for name, value in fields.items():
        if value is not None:
            setattr(new, name, value)
    new.last_seen_ms = max(new.last_seen_ms, time_ms)
    changes = {
        k: v
        for k, v in vars(new).items()
        if k != "version" and v is not None and (state is None or getattr(state, k) != v)
    }
    if not changes:
        return new, None
    new.version = (state.version if state else 0) + 1
    # Every field, not only the changed ones: a device document is small, and any one delta then
    # rebuilds it whole (device documents written under their old, unhashed ids before 0.3 are
    # rebuilt under the new ones by the device's next message).
    sets = {("last_seen" if k == "last_seen_ms" else k): v for k, v in vars(new).items() if v is not None}
    sets["tenant"] = tenant
    return new, Delta("devices", device_doc_id(tenant, device_id), new.version, set=sets)


def delete_device(tenant: str, state: DeviceState) -> Delta:
    """The device's document goes with its owner (a user delete): owner, push token and all."""
    return Delta("devices", device_doc_id(tenant, state.device_id), state.version + 1, delete=True)
