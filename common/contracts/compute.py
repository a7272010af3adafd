"""Profile computation messages (`hw.compute.output`, Avro `compute_message`): a profile entered or
left an audience, or a computed trait's value changed, and why (the trigger). The compute pipeline
(`headwater produce --source compute` today) writes them; profile-dedupe reads them.

A message that fails a check here is refused with a reason code (hw.rejected), never half-processed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum

from common.contracts.profiles import ExternalId
from common.contracts.rejections import Reason, Refusal


class Trigger(str, Enum):
    VALUE_CHANGED = "value_changed"
    NEW_EXTERNAL_ID = "new_external_id"
    PROFILE_MERGE = "profile_merge"


COMPUTATION_KINDS = ("audience", "computed_trait", "sql_trait")
AUDIENCE_VALUES = ("entered", "exited")


@dataclass(frozen=True)
class ComputeMessage:
    tenant: str
    message_id: str
    computation_id: str
    computation_kind: str
    profile_id: str
    value_json: str
    trigger: Trigger
    event_time_ms: int
    merged_profile_ids: tuple[str, ...] = ()
    external_id: ExternalId | None = None

    in_computation: bool = field(init=False, compare=False)  # entered an audience, or holds a trait value

    def __post_init__(self):
        object.__setattr__(self, "in_computation", _inside(self.computation_kind, self.value_json))


_FAST_VALUES = {'"entered"': "entered", '"exited"': "exited", "null": None}


def _value(value_json: str):
    """The JSON value; the common ones without a JSON parse (this runs for every message)."""
    try:
        return _FAST_VALUES[value_json]
    except KeyError:
        return json.loads(value_json)


def _inside(kind: str, value_json: str) -> bool:
    value = _value(value_json)
    return value == "entered" if kind == "audience" else value is not None


def message_from_record(record: dict) -> ComputeMessage:
    """A decoded `compute_message` record as a ComputeMessage; Refusal when it breaks a rule."""
    for name in ("tenant", "message_id", "computation_id", "profile_id"):
        if not record.get(name):
            raise Refusal(Reason.MISSING_FIELD, f"{name} is empty")
    kind = record["computation_kind"]
    if kind not in COMPUTATION_KINDS:
        raise Refusal(Reason.INVALID_FIELD, f"computation_kind {kind!r} is not one of {', '.join(COMPUTATION_KINDS)}")
    try:
        trigger = Trigger(record["trigger"])
    except ValueError:
        raise Refusal(
            Reason.INVALID_FIELD, f"trigger {record['trigger']!r} is not one of {', '.join(t.value for t in Trigger)}"
        ) from None
    try:
        value = _value(record["value_json"])
    except ValueError:
        raise Refusal(Reason.INVALID_FIELD, "value_json is not JSON") from None
    if kind == "audience" and value not in AUDIENCE_VALUES:
        raise Refusal(Reason.INVALID_FIELD, f"an audience's value is 'entered' or 'exited', not {value!r}")
    new_id = record.get("external_id")
    if trigger is Trigger.NEW_EXTERNAL_ID and not new_id:
        raise Refusal(Reason.MISSING_FIELD, "a new_external_id message names the id that was added (external_id)")
    merged = tuple(record.get("merged_profile_ids") or ())
    if trigger is Trigger.PROFILE_MERGE and not merged:
        raise Refusal(Reason.MISSING_FIELD, "a profile_merge message lists the merged profiles (merged_profile_ids)")
    return ComputeMessage(
        tenant=record["tenant"],
        message_id=record["message_id"],
        computation_id=record["computation_id"],
        computation_kind=kind,
        profile_id=record["profile_id"],
        value_json=record["value_json"],
        trigger=trigger,
        event_time_ms=int(record["event_time_ms"]),
        merged_profile_ids=merged,
        external_id=ExternalId(new_id["type"], new_id["value"], int(new_id["first_seen_ms"])) if new_id else None,
    )


def message_record(message: ComputeMessage) -> dict:
    new_id = message.external_id
    return {
        "tenant": message.tenant,
        "message_id": message.message_id,
        "computation_id": message.computation_id,
        "computation_kind": message.computation_kind,
        "profile_id": message.profile_id,
        "value_json": message.value_json,
        "trigger": message.trigger.value,
        "merged_profile_ids": list(message.merged_profile_ids),
        "external_id": {"type": new_id.type, "value": new_id.value, "first_seen_ms": new_id.first_seen_ms}
        if new_id
        else None,
        "event_time_ms": message.event_time_ms,
    }


def message_from_json(obj) -> ComputeMessage:
    """A compute message as `headwater produce --source compute` reads it from a JSON line: the
    compute_message fields, with `value` as any JSON value instead of `value_json`."""
    if not isinstance(obj, dict):
        raise Refusal(Reason.INVALID_JSON, "a compute message is a JSON object")
    missing = [
        f
        for f in (
            "tenant",
            "message_id",
            "computation_id",
            "computation_kind",
            "profile_id",
            "trigger",
            "event_time_ms",
        )
        if f not in obj
    ]
    if "value" not in obj:
        missing.append("value")
    if missing:
        raise Refusal(Reason.MISSING_FIELD, f"missing {', '.join(missing)}")
    if not isinstance(obj["event_time_ms"], int) or isinstance(obj["event_time_ms"], bool):
        raise Refusal(Reason.INVALID_FIELD, "event_time_ms is epoch milliseconds (an integer)")
    new_id = obj.get("external_id")
    if new_id is not None and not (isinstance(new_id, dict) and {"type", "value"} <= set(new_id)):
        raise Refusal(Reason.INVALID_FIELD, 'external_id is {"type": ..., "value": ..., "first_seen_ms": ...}')
    for name in ("tenant", "message_id", "computation_id", "computation_kind", "profile_id", "trigger"):
        if not isinstance(obj[name], str):
            raise Refusal(Reason.INVALID_FIELD, f"{name} is a string")
    merged = obj.get("merged_profile_ids") or []
    if not isinstance(merged, list) or not all(isinstance(p, str) for p in merged):
        raise Refusal(Reason.INVALID_FIELD, "merged_profile_ids is a list of profile ids")
    record = {
        **{
            k: obj[k]
            for k in (
                "tenant",
                "message_id",
                "computation_id",
                "computation_kind",
                "profile_id",
                "trigger",
                "event_time_ms",
            )
        },
        "value_json": json.dumps(obj["value"], sort_keys=True, separators=(",", ":")),
        "merged_profile_ids": merged,
        "external_id": {
            "type": str(new_id["type"]),
            "value": str(new_id["value"]),
            "first_seen_ms": int(new_id.get("first_seen_ms", obj["event_time_ms"])),
        }
        if new_id
        else None,
    }
    return message_from_record(record)
