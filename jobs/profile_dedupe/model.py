"""The records profile-dedupe reads, as plain values, and the checks a computation message must pass.

A message that fails a check is refused with a reason code (hw.rejected), never half-processed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from jobs.api_unification.reasons import Reason, Refusal


class Trigger(str, Enum):
    VALUE_CHANGED = "value_changed"
    NEW_EXTERNAL_ID = "new_external_id"
    PROFILE_MERGE = "profile_merge"


COMPUTATION_KINDS = ("audience", "computed_trait", "sql_trait")
DESTINATION_KINDS = ("email", "sms", "push", "webhook", "ads_list")
EXTERNAL_ID_TYPES = ("customer_id", "email", "phone", "anonymous_id", "device")
AUDIENCE_VALUES = ("entered", "exited")


class ExternalId(NamedTuple):
    """A tuple, so profile state packs and unpacks at C speed (pack/unpack run for every message)."""

    type: str
    value: str
    first_seen_ms: int = 0

    @property
    def pair(self) -> tuple[str, str]:
        return self.type, self.value


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


@dataclass(frozen=True)
class Destination:
    tenant: str
    destination_id: str
    kind: str
    computations: tuple[str, ...]
    dedupes_on: str | None = None
    enabled: bool = True

    @property
    def key(self) -> str:
        return f"{self.tenant}:{self.destination_id}"


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
        raise Refusal(Reason.INVALID_FIELD, f"trigger {record['trigger']!r} is not one of "
                      f"{', '.join(t.value for t in Trigger)}") from None
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
        tenant=record["tenant"], message_id=record["message_id"], computation_id=record["computation_id"],
        computation_kind=kind, profile_id=record["profile_id"],
        value_json=record["value_json"], trigger=trigger,
        event_time_ms=int(record["event_time_ms"]), merged_profile_ids=merged,
        external_id=ExternalId(new_id["type"], new_id["value"], int(new_id["first_seen_ms"])) if new_id else None)


def message_record(message: ComputeMessage) -> dict:
    new_id = message.external_id
    return {
        "tenant": message.tenant, "message_id": message.message_id, "computation_id": message.computation_id,
        "computation_kind": message.computation_kind, "profile_id": message.profile_id,
        "value_json": message.value_json, "trigger": message.trigger.value,
        "merged_profile_ids": list(message.merged_profile_ids),
        "external_id": {"type": new_id.type, "value": new_id.value, "first_seen_ms": new_id.first_seen_ms}
        if new_id else None,
        "event_time_ms": message.event_time_ms,
    }


def destination_from_record(record: dict) -> Destination:
    return Destination(tenant=record["tenant"], destination_id=record["destination_id"], kind=record["kind"],
                       computations=tuple(record["computations"]), dedupes_on=record.get("dedupes_on"),
                       enabled=bool(record.get("enabled", True)))


def destination_record(destination: Destination, deleted: bool = False) -> dict:
    return {"tenant": destination.tenant, "destination_id": destination.destination_id, "kind": destination.kind,
            "computations": list(destination.computations), "dedupes_on": destination.dedupes_on,
            "enabled": destination.enabled, "deleted": deleted}


@dataclass(frozen=True)
class ProfileIds:
    """What hw.identity.profiles says of one profile."""

    ids: tuple[ExternalId, ...] = ()
    merged_into: str | None = None
    deleted: bool = False


def profile_from_record(record: dict) -> tuple[str, ProfileIds]:
    ids = tuple(sorted(ExternalId(i["type"], i["value"], int(i["first_seen_ms"])) for i in record["external_ids"]))
    return record["user_id"], ProfileIds(ids, record.get("merged_into"), bool(record.get("deleted")))


@dataclass(frozen=True)
class Delivery:
    """One destination receives these external ids for a message."""

    destination_id: str
    ids: tuple[tuple[str, str], ...]  # canonical: sorted (type, value) pairs


@dataclass
class PathOutput:
    """What one path (new or legacy) decided for one message: the deliveries, and why each destination
    got what it got (decision-tree branch -> count)."""

    deliveries: list[Delivery] = field(default_factory=list)
    branches: dict[str, int] = field(default_factory=dict)

    def count(self, branch: str) -> None:
        self.branches[branch] = self.branches.get(branch, 0) + 1


def message_from_json(obj) -> ComputeMessage:
    """A compute message as `headwater produce --source compute` reads it from a JSON line: the
    compute_message fields, with `value` as any JSON value instead of `value_json`."""
    if not isinstance(obj, dict):
        raise Refusal(Reason.INVALID_JSON, "a compute message is a JSON object")
    missing = [f for f in ("tenant", "message_id", "computation_id", "computation_kind", "profile_id", "trigger",
                           "event_time_ms") if f not in obj]
    if "value" not in obj:
        missing.append("value")
    if missing:
        raise Refusal(Reason.MISSING_FIELD, f"missing {', '.join(missing)}")
    if not isinstance(obj["event_time_ms"], int) or isinstance(obj["event_time_ms"], bool):
        raise Refusal(Reason.INVALID_FIELD, "event_time_ms is epoch milliseconds (an integer)")
    new_id = obj.get("external_id")
    if new_id is not None and not (isinstance(new_id, dict) and {"type", "value"} <= set(new_id)):
        raise Refusal(Reason.INVALID_FIELD, "external_id is {\"type\": ..., \"value\": ..., \"first_seen_ms\": ...}")
    for name in ("tenant", "message_id", "computation_id", "computation_kind", "profile_id", "trigger"):
        if not isinstance(obj[name], str):
            raise Refusal(Reason.INVALID_FIELD, f"{name} is a string")
    merged = obj.get("merged_profile_ids") or []
    if not isinstance(merged, list) or not all(isinstance(p, str) for p in merged):
        raise Refusal(Reason.INVALID_FIELD, "merged_profile_ids is a list of profile ids")
    record = {**{k: obj[k] for k in ("tenant", "message_id", "computation_id", "computation_kind", "profile_id",
                                     "trigger", "event_time_ms")},
              "value_json": json.dumps(obj["value"], sort_keys=True, separators=(",", ":")),
              "merged_profile_ids": merged,
              "external_id": {"type": str(new_id["type"]), "value": str(new_id["value"]),
                              "first_seen_ms": int(new_id.get("first_seen_ms", obj["event_time_ms"]))}
              if new_id else None}
    return message_from_record(record)
