"""The unified action (`hw.unified.actions`, Avro `unified_action`): what every ingest source becomes,
whatever it looked like on the wire. api-unification writes it; action-streaming reads it.

The model (`Action` and its parts) and both directions of its Avro record live here, beside the
schema they mirror (schemas/unified_action/), so the writer and the reader cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Property and attribute values after normalisation: JSON scalars, or a list of them.
Scalar = bool | int | float | str | None
Value = Scalar | list[Scalar]


@dataclass
class Identifiers:
    customer_id: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    anonymous_ids: list[str] = field(default_factory=list)
    device_id: str | None = None

    def is_empty(self) -> bool:
        return not (self.customer_id or self.emails or self.phones or self.anonymous_ids or self.device_id)

    def add(self, kind: str, value: str) -> None:
        if kind in ("customer_id", "device_id"):
            setattr(self, kind, value)
        else:
            values = getattr(self, kind)
            if value not in values:
                values.append(value)


@dataclass
class Device:
    id: str
    platform: str | None = None
    app_version: str | None = None
    os_version: str | None = None
    push_token: str | None = None


@dataclass
class Event:
    name: str
    time_ms: int
    properties: dict[str, Value]
    path: str = ""  # where it was in the message ("events[3]"), for rejections; not serialised


@dataclass
class AttributeOp:
    op: str  # set | unset | add_to_set | pull
    name: str
    value: Value = None


@dataclass
class Action:
    tenant: str
    source: str
    message_id: str
    kind: str  # batch | track | identify | alias | device | delete_user | page | screen | group
    time_ms: int
    identifiers: Identifiers
    device: Device | None = None
    events: list[Event] = field(default_factory=list)
    attributes: list[AttributeOp] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # paths of properties dropped by policy (counted)


def routing_key(action: Action) -> str:
    """A per-user key inside the tenant: the message's customer_id, else its first anonymous id, email,
    phone or device id, tagged with its kind. api-unification's schema gate is keyed by it, so one
    tenant's messages spread over every subtask while one user's keep their order."""
    ids = action.identifiers
    if ids.customer_id:
        kind, value = "customer_id", ids.customer_id
    else:
        kind, value = next(
            (
                (k, v[0])
                for k, v in (("anonymous_id", ids.anonymous_ids), ("email", ids.emails), ("phone", ids.phones))
                if v
            ),
            ("device", ids.device_id),
        )
    # An identifier may hold lone surrogates (not UTF-8): escaped, so every serializer takes the key.
    return f"{action.tenant}\x1f{kind}:{value}".encode("utf-8", "backslashreplace").decode("utf-8")


def action_record(action: Action, arrival_ms: int) -> dict:
    return {
        "tenant": action.tenant,
        "source": action.source,
        "message_id": action.message_id,
        "kind": action.kind,
        "time_ms": action.time_ms,
        "arrival_ms": arrival_ms,
        "identifiers": _identifiers_record(action.identifiers),
        "device": _device_record(action.device),
        "events": [{"name": e.name, "time_ms": e.time_ms, "properties": e.properties} for e in action.events],
        "attributes": [{"op": a.op, "name": a.name, "value": a.value} for a in action.attributes],
        "dropped": action.dropped,
    }


def _identifiers_record(ids: Identifiers) -> dict:
    # plain dicts: dataclasses.asdict costs ~30 us per call here
    return {
        "customer_id": ids.customer_id,
        "emails": ids.emails,
        "phones": ids.phones,
        "anonymous_ids": ids.anonymous_ids,
        "device_id": ids.device_id,
    }


def _device_record(d: Device | None) -> dict | None:
    if d is None:
        return None
    return {
        "id": d.id,
        "platform": d.platform,
        "app_version": d.app_version,
        "os_version": d.os_version,
        "push_token": d.push_token,
    }


def action_from_record(record: dict) -> Action:
    """A decoded `unified_action` record back into the model the identity and state rules take."""
    ids = record["identifiers"]
    device = record.get("device")
    return Action(
        tenant=record["tenant"],
        source=record["source"],
        message_id=record["message_id"],
        kind=record["kind"],
        time_ms=record["time_ms"],
        identifiers=Identifiers(
            ids["customer_id"], list(ids["emails"]), list(ids["phones"]), list(ids["anonymous_ids"]), ids["device_id"]
        ),
        device=Device(**device) if device else None,
        events=[
            Event(e["name"], e["time_ms"], dict(e["properties"]), f"events[{i}]")
            for i, e in enumerate(record["events"])
        ],
        attributes=[AttributeOp(a["op"], a["name"], a["value"]) for a in record["attributes"]],
        dropped=list(record.get("dropped", [])),
    )
