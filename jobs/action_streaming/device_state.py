"""A device's state (owner, platform, versions, push token, last seen) and the delta that carries a
change to its MongoDB document. A device belongs to one user at a time: the latest message that names
it decides (identity.py moves it)."""

from __future__ import annotations

from dataclasses import dataclass

from common.contracts.deltas import Delta, doc_id


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
    sets = {("last_seen" if k == "last_seen_ms" else k): v for k, v in changes.items() if k != "device_id"}
    if state is None:
        sets.update(tenant=tenant, device_id=device_id)
    sets["version"] = new.version
    return new, Delta("devices", doc_id(tenant, device_id), new.version, set=sets)
