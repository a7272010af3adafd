"""One parser per source: the wire format of each (documented in docs/ingest-formats.md) to an Action.

A parser raises Refusal for what refuses the whole message (no tenant, no identifier, bad
timestamp...) and returns per-part rejections (one bad event of a batch) beside the Action, so the
good parts of a message are never lost with the bad.
"""

from __future__ import annotations

import hashlib

from common.contracts.actions import Action, AttributeOp, Device, Event, Identifiers
from common.contracts.rejections import Reason, Refusal, Rejection
from common.contracts.tenants import TenantPolicy
from jobs.api_unification.identifiers import normalize_email, normalize_phone, plain_id
from jobs.api_unification.timestamps import check_window, parse_time_ms, skew_corrected
from jobs.api_unification.values import check_name, normalize_properties

SOURCES = ("sdk", "api", "partner", "csv")
API_TYPES = ("track", "identify", "alias", "device", "delete_user")
PARTNER_TYPES = ("track", "identify", "alias", "page", "screen", "group")


class Context:
    """What every rule needs besides the message: the tenant's policy and the arrival time."""

    def __init__(self, tenant: TenantPolicy, arrival_ms: int, raw: bytes):
        self.tenant = tenant
        self.limits = tenant.limits
        self.arrival_ms = arrival_ms
        self.raw = raw

    def time(self, value: object, field: str, sent_at_ms: int | None = None) -> int:
        if value is None:
            raise Refusal(Reason.MISSING_FIELD, f"{field} is required", field)
        ms = skew_corrected(parse_time_ms(value, field), sent_at_ms, self.arrival_ms)
        window = self.tenant.time_window
        return check_window(ms, self.arrival_ms, window.max_past_ms, window.max_future_ms, field)


def message_id(doc: dict, raw: bytes) -> str:
    """The producer's id if it gave one, else a hash of the bytes: stable across replays."""
    given = doc.get("message_id", doc.get("messageId"))
    if isinstance(given, str) and given.strip():
        return given.strip()[:256]
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:32]


def _required(doc: dict, field: str, kind: type = str):
    value = doc.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise Refusal(Reason.MISSING_FIELD, f"{field} is required", field)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise Refusal(Reason.INVALID_FIELD, f"{field} must be {kind.__name__}", field)
    return value


def identifiers_from(fields: dict, ctx: Context, ids: Identifiers | None = None) -> Identifiers:
    """customer_id, email, phone, anonymous_id, device_id of one object (any subset)."""
    ids = ids or Identifiers()
    if fields.get("customer_id") is not None:
        ids.add("customer_id", plain_id(fields["customer_id"], "customer_id"))
    if fields.get("email") is not None:
        ids.add("emails", normalize_email(fields["email"]))
    if fields.get("phone") is not None:
        ids.add("phones", normalize_phone(fields["phone"], ctx.tenant.default_phone_region))
    if fields.get("anonymous_id") is not None:
        ids.add("anonymous_ids", plain_id(fields["anonymous_id"], "anonymous_id"))
    if fields.get("device_id") is not None:
        ids.add("device_id", plain_id(fields["device_id"], "device_id"))
    return ids


def attribute_sets(raw: object, path: str, ctx: Context) -> list[AttributeOp]:
    """{"plan": "pro", "nickname": null} -> set plan, unset nickname."""
    values = normalize_properties(raw, path, ctx.limits)
    return [AttributeOp("unset" if v is None else "set", name, v) for name, v in values.items()]


def attribute_ops(raw: object, ctx: Context) -> list[AttributeOp]:
    """Explicit operations: [{"op": "add_to_set"|"pull", "name": ..., "value": ...}]."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise Refusal(Reason.INVALID_FIELD, "attribute_ops must be a list", "attribute_ops")
    ops = []
    for i, item in enumerate(raw):
        path = f"attribute_ops[{i}]"
        if not isinstance(item, dict) or item.get("op") not in ("add_to_set", "pull", "set", "unset"):
            raise Refusal(Reason.INVALID_FIELD, f"{path}: op must be set, unset, add_to_set or pull", path)
        name = check_name(item.get("name"), f"{path}.name", ctx.limits)
        value = normalize_properties({"v": item.get("value")}, path, ctx.limits)["v"]
        ops.append(AttributeOp(item["op"], name, value))
    return ops


def _event(raw: object, path: str, ctx: Context, sent_at_ms: int | None, name_field="name", time_field="time") -> Event:
    if not isinstance(raw, dict):
        raise Refusal(Reason.INVALID_FIELD, f"{path} must be an object", path)
    name = raw.get(name_field)
    if name is None or (isinstance(name, str) and not name.strip()):
        raise Refusal(Reason.MISSING_FIELD, f"{path}.{name_field} is required", path)
    name = check_name(name, f"{path}.{name_field}", ctx.limits)
    time_ms = ctx.time(raw.get(time_field), f"{path}.{time_field}", sent_at_ms)
    return Event(name, time_ms, normalize_properties(raw.get("properties"), f"{path}.properties", ctx.limits), path)


def parse_sdk(doc: dict, ctx: Context) -> tuple[Action, list[Rejection]]:
    user = doc.get("user") or {}
    if not isinstance(user, dict):
        raise Refusal(Reason.INVALID_FIELD, "user must be an object", "user")
    ids = identifiers_from(user, ctx)
    device = None
    if doc.get("device") is not None:
        raw_device = doc["device"]
        if not isinstance(raw_device, dict):
            raise Refusal(Reason.INVALID_FIELD, "device must be an object", "device")
        device = _device(raw_device, ctx)
        ids.add("device_id", device.id)
    sent_at = ctx.time(doc["sent_at"], "sent_at") if doc.get("sent_at") is not None else None
    events_raw = doc.get("events", [])
    if not isinstance(events_raw, list):
        raise Refusal(Reason.INVALID_FIELD, "events must be a list", "events")
    events, rejections = [], []
    for i, raw in enumerate(events_raw):
        path = f"events[{i}]"
        if i >= ctx.limits.max_events_per_batch:
            rejections.append(
                Rejection(
                    Reason.LIMIT_EXCEEDED,
                    f"batch has {len(events_raw)} events (limit {ctx.limits.max_events_per_batch})",
                    path,
                )
            )
            continue
        try:
            events.append(_event(raw, path, ctx, sent_at))
        except Refusal as refusal:
            rejections.append(Rejection.of(refusal, path))
    attributes = attribute_sets(doc.get("attributes"), "attributes", ctx)
    time_ms = max([e.time_ms for e in events], default=sent_at if sent_at is not None else ctx.arrival_ms)
    return Action(ctx.tenant.name, "sdk", "", "batch", time_ms, ids, device, events, attributes), rejections


def _device(raw: dict, ctx: Context) -> Device:
    device_id = plain_id(raw.get("id"), "device.id") if raw.get("id") is not None else None
    if device_id is None:
        raise Refusal(Reason.MISSING_FIELD, "device.id is required", "device.id")
    fields = {}
    for name in ("platform", "app_version", "os_version", "push_token"):
        value = raw.get(name)
        if value is not None:
            if not isinstance(value, str) or len(value) > ctx.limits.max_string_length:
                raise Refusal(
                    Reason.INVALID_FIELD,
                    f"device.{name} must be a string of at most {ctx.limits.max_string_length} characters",
                    f"device.{name}",
                )
            fields[name] = value
    return Device(device_id, **fields)


def parse_api(doc: dict, ctx: Context, source: str = "api") -> tuple[Action, list[Rejection]]:
    kind = _required(doc, "type")
    if kind not in API_TYPES:
        raise Refusal(Reason.UNSUPPORTED_TYPE, f"type {kind[:40]!r} is not one of {', '.join(API_TYPES)}", "type")
    ids = identifiers_from(doc, ctx)
    time_ms = ctx.time(doc.get("timestamp"), "timestamp")
    action = Action(ctx.tenant.name, source, "", kind, time_ms, ids)
    if kind == "track":
        event = _event(doc, "event", ctx, None, name_field="event", time_field="timestamp")
        action.events.append(event)
    elif kind == "identify":
        if doc.get("attributes") is None and doc.get("attribute_ops") is None:
            raise Refusal(Reason.MISSING_FIELD, "identify needs attributes or attribute_ops", "attributes")
        action.attributes = attribute_sets(doc.get("attributes"), "attributes", ctx) + attribute_ops(
            doc.get("attribute_ops"), ctx
        )
    elif kind == "alias":
        previous = _required(doc, "previous", dict)
        before = len(_all_ids(ids))
        identifiers_from(previous, ctx, ids)
        if len(_all_ids(ids)) == before:
            raise Refusal(Reason.MISSING_IDENTIFIER, "alias.previous holds no identifier", "previous")
    elif kind == "device":
        action.device = _device(_required(doc, "device", dict), ctx)
        ids.add("device_id", action.device.id)
    return action, []


def _all_ids(ids: Identifiers) -> list[str]:
    return [x for x in (ids.customer_id, ids.device_id) if x] + ids.emails + ids.phones + ids.anonymous_ids


def parse_partner(doc: dict, ctx: Context) -> tuple[Action, list[Rejection]]:
    """Segment-spec messages (https://segment.com/docs/connections/spec/)."""
    kind = _required(doc, "type")
    if kind not in PARTNER_TYPES:
        raise Refusal(Reason.UNSUPPORTED_TYPE, f"type {kind[:40]!r} is not one of {', '.join(PARTNER_TYPES)}", "type")
    context = doc.get("context")
    if context is not None and not isinstance(context, dict):
        raise Refusal(Reason.INVALID_FIELD, "context must be an object", "context")
    traits = doc.get("traits") if kind == "identify" else (context or {}).get("traits")
    if traits is not None and not isinstance(traits, dict):
        raise Refusal(Reason.INVALID_FIELD, "traits must be an object", "traits")
    traits = traits or {}
    ids = identifiers_from(
        {
            "customer_id": doc.get("userId"),
            "anonymous_id": doc.get("anonymousId"),
            "email": traits.get("email"),
            "phone": traits.get("phone"),
        },
        ctx,
    )
    time_ms = ctx.time(doc.get("timestamp"), "timestamp")
    action = Action(ctx.tenant.name, "partner", "", kind, time_ms, ids)
    if kind == "track":
        action.events.append(_event(doc, "event", ctx, None, name_field="event", time_field="timestamp"))
    elif kind in ("page", "screen"):
        properties = normalize_properties(doc.get("properties"), "properties", ctx.limits)
        if isinstance(doc.get("name"), str):
            properties.setdefault("name", doc["name"])
        action.events.append(Event(f"{kind}_viewed", time_ms, properties, "properties"))
    elif kind == "identify":
        action.attributes = attribute_sets(traits, "traits", ctx)
    elif kind == "alias":
        previous = plain_id(_required(doc, "previousId"), "previousId")
        ids.add("anonymous_ids", previous)
    elif kind == "group":
        group_id = plain_id(_required(doc, "groupId"), "groupId")
        action.attributes = [AttributeOp("add_to_set", "group_ids", group_id)] + [
            AttributeOp("unset" if op.value is None else "set", f"group.{op.name}", op.value)
            for op in attribute_sets(doc.get("traits"), "traits", ctx)
        ]
    return action, []


PARSERS = {
    "sdk": parse_sdk,
    "api": parse_api,
    "partner": parse_partner,
    "csv": lambda doc, ctx: parse_api(doc, ctx, source="csv"),
}
