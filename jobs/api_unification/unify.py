"""The stateless half of api-unification: raw bytes of one source -> an Action and its rejections."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.contracts.actions import Action
from common.contracts.rejections import Reason, Refusal, Rejection
from common.contracts.tenants import TenantRegistry
from jobs.api_unification.parsing import parse_object
from jobs.api_unification.sources import PARSERS, Context, message_id


@dataclass
class Outcome:
    source: str
    raw: bytes
    arrival_ms: int
    tenant: str | None = None
    message_id: str = ""
    action: Action | None = None
    rejections: list[Rejection] = field(default_factory=list)


# The detail of a refusal for input that made a rule fail: a bug to fix, but never a crash loop of the job.
# The hostile-input tests fail on any refusal that carries it.
UNFORESEEN = "input the rules did not foresee"


def _unforeseen(exc: Exception) -> Rejection:
    return Rejection(Reason.INVALID_FIELD, f"{UNFORESEEN} ({type(exc).__name__}: {str(exc)[:200]})", "")


def unify(source: str, raw: bytes, arrival_ms: int, registry: TenantRegistry) -> Outcome:
    """Never raises for bad input: whatever is refused is in `rejections` (path "" = the whole message)."""
    outcome = Outcome(source, raw, arrival_ms)
    try:
        _unify(outcome, registry)
    except Refusal as refusal:
        outcome.action = None
        outcome.rejections.append(Rejection(refusal.reason, refusal.detail, ""))
    except Exception as exc:  # noqa: BLE001 - see UNFORESEEN
        outcome.action = None
        outcome.rejections.append(_unforeseen(exc))
    return outcome


def _envelope(outcome: Outcome, registry: TenantRegistry):
    raw = outcome.raw
    if len(raw) > registry.max_payload_bytes:
        raise Refusal(Reason.PAYLOAD_TOO_LARGE, f"{len(raw)} bytes (largest allowed {registry.max_payload_bytes})")
    doc = parse_object(raw)
    outcome.message_id = message_id(doc, raw)
    tenant = authenticate(doc, outcome.source, registry)
    outcome.tenant = tenant.name
    if len(raw) > tenant.limits.max_payload_bytes:
        raise Refusal(Reason.PAYLOAD_TOO_LARGE, f"{len(raw)} bytes (tenant limit {tenant.limits.max_payload_bytes})")
    return doc, tenant


# The field that carries the write key: partner records follow Segment's spelling.
WRITE_KEY_FIELD = {"partner": "writeKey"}
WRONG_KEY = "write key not accepted"


def authenticate(doc: dict, source: str, registry: TenantRegistry):
    """The tenant whose write key the record carries. Refused alike for an unknown key and for a key of
    another tenant than the record's `tenant` field, so a refusal never tells which tenants exist."""
    field = WRITE_KEY_FIELD.get(source, "write_key")
    key = doc.get(field)
    if key is None or key == "":
        raise Refusal(Reason.WRITE_KEY_REFUSED, f"no write key: records of source {source} carry it in {field}")
    tenant = registry.for_write_key(key)
    named = doc.get("tenant")
    if tenant is None or (named is not None and named != tenant.name):
        raise Refusal(Reason.WRITE_KEY_REFUSED, WRONG_KEY)
    return tenant


def _unify(outcome: Outcome, registry: TenantRegistry) -> None:
    doc, tenant = _envelope(outcome, registry)
    raw = outcome.raw
    action, rejections = PARSERS[outcome.source](doc, Context(tenant, outcome.arrival_ms, raw))
    if action.identifiers.is_empty():
        raise Refusal(Reason.MISSING_IDENTIFIER, "no customer_id, email, phone, anonymous_id or device id")
    action.message_id = outcome.message_id
    outcome.action = action
    outcome.rejections.extend(rejections)
