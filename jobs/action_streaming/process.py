"""One unified action against a tenant's state: identity, user and device state, and what to emit.

`process_action` is the whole job's logic. It reads and writes state only through `TenantState`:
the Flink operator backs it with keyed MapStates (RocksDB), and tests back it with dicts
(`MemoryTenantState`), so the reference model runs exactly this code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from common.contracts.actions import Action, Event
from common.contracts.deltas import Delta
from jobs.action_streaming.device_state import DeviceState, apply_device, delete_device
from jobs.action_streaming.identity import Resolution, UserIdentity, message_keys, resolve
from jobs.action_streaming.user_state import UserState, apply_user, delete_user, pull_device


class TenantState(Protocol):
    def index_get(self, key: str) -> str | None: ...
    def index_put(self, key: str, user_id: str) -> None: ...
    def index_remove(self, key: str) -> None: ...
    def user_get(self, user_id: str) -> UserState | None: ...
    def user_put(self, state: UserState) -> None: ...
    def user_remove(self, user_id: str) -> None: ...
    def device_get(self, device_id: str) -> DeviceState | None: ...
    def device_put(self, state: DeviceState) -> None: ...
    def device_remove(self, device_id: str) -> None: ...


class MemoryTenantState:
    def __init__(self):
        self.index: dict[str, str] = {}
        self.users: dict[str, UserState] = {}
        self.devices: dict[str, DeviceState] = {}

    def index_get(self, key):
        return self.index.get(key)

    def index_put(self, key, user_id):
        self.index[key] = user_id

    def index_remove(self, key):
        self.index.pop(key, None)

    def user_get(self, user_id):
        return self.users.get(user_id)

    def user_put(self, state):
        self.users[state.identity.user_id] = state

    def user_remove(self, user_id):
        self.users.pop(user_id, None)

    def device_get(self, device_id):
        return self.devices.get(device_id)

    def device_put(self, state):
        self.devices[state.device_id] = state

    def device_remove(self, device_id):
        self.devices.pop(device_id, None)


@dataclass
class Emitted:
    deltas: list[Delta] = field(default_factory=list)
    events: list[tuple[str, int, Event, dict]] = field(default_factory=list)  # (user_id, index, event, snapshot)
    profiles: list[tuple[UserIdentity, str | None, bool]] = field(
        default_factory=list
    )  # (identity, merged_into, deleted)
    merges: int = 0
    conflicts: int = 0
    capped: int = 0


class _IdentityView:
    def __init__(self, state: TenantState):
        self.state = state

    def owner(self, key):
        return self.state.index_get(key)

    def user(self, user_id):
        found = self.state.user_get(user_id)
        return found.identity if found else None


def process_action(
    state: TenantState, action: Action, max_identifiers: int, snapshot_attributes: tuple[str, ...] | None = None
) -> Emitted:
    out = Emitted()
    tenant = action.tenant
    if action.kind == "delete_user":
        for key in message_keys(action.identifiers) + (
            [f"device:{action.identifiers.device_id}"] if action.identifiers.device_id else []
        ):
            owner = state.index_get(key)
            if owner:
                _delete(state, tenant, owner, out)
                break
        return out

    # first_seen (of the user and of each identifier) is the message's *earliest* event time; an SDK
    # batch's own time is its latest event.
    earliest = min((e.time_ms for e in action.events), default=action.time_ms)
    r: Resolution = resolve(
        tenant, action.message_id, action.identifiers, earliest, _IdentityView(state), max_identifiers
    )
    for key, user_id in r.index_puts.items():
        state.index_put(key, user_id)
    merged = [state.user_get(u) for u in r.merged]
    user, deltas = apply_user(tenant, state.user_get(r.user.user_id), action, r, merged)
    for loser in r.merged:
        state.user_remove(loser)
    out.deltas += deltas
    out.merges, out.conflicts, out.capped = len(r.merged), len(r.conflicts), len(r.capped)
    if r.device_moved_from:
        previous, pull = pull_device(tenant, state.user_get(r.device_moved_from), action.identifiers.device_id)
        state.user_put(previous)
        out.deltas.append(pull)
        out.profiles.append((previous.identity, None, False))
    state.user_put(user)
    if r.created or r.added or r.merged or r.device_moved_from:
        out.profiles.append((user.identity, None, False))
    for loser in merged:
        out.profiles.append((loser.identity, user.identity.user_id, False))

    device_id = action.identifiers.device_id
    if device_id:
        fields = (
            {k: getattr(action.device, k) for k in ("platform", "app_version", "os_version", "push_token")}
            if action.device
            else {}
        )
        device, delta = apply_device(
            tenant, state.device_get(device_id), device_id, user.identity.user_id, action.time_ms, fields
        )
        state.device_put(device)
        if delta:
            out.deltas.append(delta)

    snapshot = {k: v for k, v in user.attributes.items() if snapshot_attributes is None or k in snapshot_attributes}
    out.events = [(user.identity.user_id, i, event, snapshot) for i, event in enumerate(action.events)]
    return out


def _delete(state: TenantState, tenant: str, user_id: str, out: Emitted) -> None:
    """The user goes whole: its identifiers from the index, its state, its devices (state and
    documents) and its document; its identity profile becomes a tombstone (records.py)."""
    user = state.user_get(user_id)
    for key in user.identity.keys():
        state.index_remove(key)
    for device_id in user.identity.devices:
        device = state.device_get(device_id)
        if device is not None and device.owner == user_id:
            state.device_remove(device_id)
            out.deltas.append(delete_device(tenant, device))
    state.user_remove(user_id)
    out.deltas.append(delete_user(tenant, user))
    out.profiles.append((user.identity, None, True))
