"""Rejections (`hw.rejected`, Avro `rejected`): why a record, an event or an attribute was refused.

`Reason` is the one enum every job's rejections use (docs/ingest-formats.md lists the codes). Each
refusal becomes a record on `hw.rejected` with one of these codes, the job that refused it, the
original bytes, and a human-readable detail naming what to fix.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum


class Reason(str, Enum):
    INVALID_JSON = "INVALID_JSON"  # not UTF-8 JSON, NaN/Infinity, duplicate keys, not an object
    # no write key, one no tenant holds, or one of another tenant than the record names; says nothing of
    # which tenants exist
    WRITE_KEY_REFUSED = "WRITE_KEY_REFUSED"
    UNKNOWN_TENANT = "UNKNOWN_TENANT"  # before write keys (0.3): kept so older hw.rejected records still read
    MISSING_FIELD = "MISSING_FIELD"  # a field the message type requires is absent or empty
    MISSING_IDENTIFIER = "MISSING_IDENTIFIER"  # none of customer_id, email, phone, anonymous_id, device_id
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_PHONE = "INVALID_PHONE"  # not a valid number, or no country code and no tenant default region
    INVALID_FIELD = "INVALID_FIELD"  # a field of the wrong JSON type (e.g. events not a list)
    TIMESTAMP_INVALID = "TIMESTAMP_INVALID"  # neither ISO-8601 nor epoch milliseconds
    TIMESTAMP_OUT_OF_RANGE = "TIMESTAMP_OUT_OF_RANGE"  # outside the tenant's window around arrival time
    TYPE_CONFLICT = "TYPE_CONFLICT"  # a property/attribute whose type differs from the first one seen
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"  # events per batch, properties per event, string length, distinct names
    SCHEMA_UNDECIDED = "SCHEMA_UNDECIDED"  # waited HEADWATER_SCHEMA_WAIT_MS for the tenant's schema to decide a name
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_TYPE = "UNSUPPORTED_TYPE"  # unknown message type, or a value type we do not store
    # reaction-streaming: a state delta that cannot reach MongoDB
    INVALID_DELTA = "INVALID_DELTA"  # not a decodable state_delta record
    WRITE_REFUSED = "WRITE_REFUSED"  # MongoDB refused the write for a reason retrying cannot fix
    # action-streaming and profile-dedupe: a record on an input or config topic that the job cannot read
    INVALID_RECORD = "INVALID_RECORD"  # not decodable, or a schema the topic does not carry


class Refusal(Exception):
    """Raised by a rule that refuses a whole message (or, with `path`, one part of it)."""

    def __init__(self, reason: Reason, detail: str, path: str = ""):
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.path = path


@dataclass(frozen=True)
class Rejection:
    """One refused message or part of one (`path` says which: "" for all, "events[3]", "attributes.plan")."""

    reason: Reason
    detail: str
    path: str = ""

    @staticmethod
    def of(refusal: Refusal, path: str | None = None) -> Rejection:
        return Rejection(refusal.reason, refusal.detail, refusal.path if path is None else path)


def rejected_record(
    rejection: Rejection,
    *,
    job: str,
    source: str,
    tenant: str | None,
    message_id: str | None,
    arrival_ms: int,
    original: bytes,
    part: bytes = b"",
    parts: int = 1,
    original_omitted: bool = False,
) -> dict:
    """An Avro `rejected` record. `original` empty with `original_omitted`: another rejection of the same
    message carries it (api-unification keeps it once per message, jobs/api_unification/rejection_budget.py)."""
    return {
        "job": job,
        "source": source,
        "tenant": tenant,
        "message_id": message_id or None,
        "reason": rejection.reason.value,
        "detail": rejection.detail,
        "path": rejection.path,
        "arrival_ms": arrival_ms,
        "original": b"" if original_omitted else original,
        "part": part,
        "parts": parts,
        "original_omitted": original_omitted,
    }


def refused_input(rejection: Rejection, raw: bytes, record: dict | None, *, job: str, source: str) -> dict:
    """The `rejected` record of an input record a job refused: what it could read of the tenant and
    message id, the time of the refusal, and the original bytes."""
    record = record or {}
    return rejected_record(
        rejection,
        job=job,
        source=source,
        tenant=record.get("tenant"),
        message_id=record.get("message_id"),
        arrival_ms=int(time.time() * 1000),
        original=raw,
    )
