"""Routing below the tenant (docs/identity.md): which identifier a unified action
is keyed by, and the link records that carry its other identifiers to their own keys.

api-unification writes, for each message, one record per identifier it names, keyed by
(tenant, identifier): the message itself at its *home* (its strongest identifier), and a *link* (the
identifiers and time, no events or attributes) at each other one. Every record about one identifier
then sits in one partition, in one order that never changes, which is what makes the order-sensitive
decisions at that identifier (which stronger identifier claims it, who owns a device) the same on
every replay and at every parallelism. action-streaming reads them at the level of their identifier.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from common.contracts.actions import Action, Identifiers, action_record

# Identifier kinds, weakest first. A profile lives at its strongest identifier; an identifier can only
# be claimed by a stronger one, so claims (and everything they carry) flow one way: up.
LEVELS = {"device": 0, "anonymous_id": 1, "phone": 2, "email": 3, "customer_id": 4}
SEALED_HEX = 32  # hex digits of a sealed key's digest (128 bits)
LINK = "link"  # the kind of a link record (common/contracts/actions.py: Action.kind)


def level(key: str) -> int:
    """The level of an identifier key ("email:a@b.c" -> 3)."""
    return LEVELS[key.partition(":")[0]]


def identifier_keys(ids: Identifiers) -> list[str]:
    """The message's identifier keys, strongest first, its device last."""
    keys = [f"customer_id:{ids.customer_id}"] if ids.customer_id else []
    keys += [f"email:{v}" for v in ids.emails]
    keys += [f"phone:{v}" for v in ids.phones]
    keys += [f"anonymous_id:{v}" for v in ids.anonymous_ids]
    return keys + ([f"device:{ids.device_id}"] if ids.device_id else [])


def home_key(ids: Identifiers) -> str | None:
    """Where a message is processed: its strongest identifier (the first one of the strongest kind it
    names), or its device when it names nothing else. None for a message without identifiers."""
    keys = identifier_keys(ids)
    return keys[0] if keys else None


def earliest_ms(action: Action) -> int:
    """The message's earliest event time (an SDK batch's own time is its latest event): what first
    seen times are made of."""
    return min((e.time_ms for e in action.events), default=action.time_ms)


def routed(action: Action) -> list[tuple[str, Action]]:
    """(routing key, record) for each record api-unification writes for `action`: the action at its
    home, a link at each other identifier (a delete links nothing: it only names whom to delete).
    A link's time is the message's earliest event time (first-seen times are made of it); a device's
    link carries the device and the message's own time (device ownership and last seen follow it)."""
    keys = identifier_keys(action.identifiers)
    if not keys:
        return []
    home = keys[0]
    out = [(home, action)]
    if action.kind == "delete_user":
        return out
    for key in keys[1:]:
        if key.startswith("device:"):
            link = replace(action, kind=LINK, events=[], attributes=[])
        else:
            link = replace(action, kind=LINK, time_ms=earliest_ms(action), device=None, events=[], attributes=[])
        out.append((key, link))
    return out


def seal(tenant: str, key: str) -> str:
    """The identifier key as action-streaming keeps it: its kind, then a digest of (tenant, key)
    ("email:a@b.c" -> "email:#3f2a..."). State, forwards and owners name identifiers sealed, so a
    deleted user's identifiers are gone once its profile is: only its root's profile holds them raw.
    IdentityLevels.java seals a routed record's key the same way to pick its bucket."""
    kind = key.partition(":")[0]
    return f"{kind}:#{hashlib.sha256(f'{tenant}|{key}'.encode()).hexdigest()[:SEALED_HEX]}"


def routing_key(tenant: str, key: str) -> bytes:
    """The Kafka key of a routed record."""
    return f"{tenant}|{key}".encode()


def routed_records(codec, action: Action, arrival_ms: int) -> list[tuple[bytes, bytes]]:
    """The Kafka (key, value) records of `routed(action)`, the values Avro-encoded by `codec`."""
    return [
        (routing_key(action.tenant, key), codec.encode("unified_action", action_record(record, arrival_ms)))
        for key, record in routed(action)
    ]
