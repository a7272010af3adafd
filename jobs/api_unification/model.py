"""The unified action: what every source becomes, whatever it looked like on the wire."""

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
