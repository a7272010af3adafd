"""A decoded `unified_action` record back into the model that the identity and delta rules take."""

from __future__ import annotations

from jobs.api_unification.model import Action, AttributeOp, Device, Event, Identifiers


def action_from_record(record: dict) -> Action:
    ids = record["identifiers"]
    device = record.get("device")
    return Action(
        tenant=record["tenant"], source=record["source"], message_id=record["message_id"], kind=record["kind"],
        time_ms=record["time_ms"],
        identifiers=Identifiers(ids["customer_id"], list(ids["emails"]), list(ids["phones"]), list(ids["anonymous_ids"]),
                                ids["device_id"]),
        device=Device(**device) if device else None,
        events=[Event(e["name"], e["time_ms"], dict(e["properties"]), f"events[{i}]") for i, e in enumerate(record["events"])],
        attributes=[AttributeOp(a["op"], a["name"], a["value"]) for a in record["attributes"]],
        dropped=list(record.get("dropped", [])),
    )
