"""Small builders for profile-dedupe tests: messages, destinations, profiles."""

from __future__ import annotations

import json

from common.contracts.compute import ComputeMessage, Trigger
from common.contracts.destinations import Destination
from common.contracts.profiles import ExternalId
from jobs.profile_dedupe.profiles import ProfileState

T = "acme"
EMAIL_OLD = ExternalId("email", "old@x.io", 1_000)
EMAIL_NEW = ExternalId("email", "new@x.io", 2_000)
PHONE = ExternalId("phone", "+15550001", 1_500)
CUSTOMER = ExternalId("customer_id", "c-1", 500)
ALL = (CUSTOMER, EMAIL_NEW, EMAIL_OLD, PHONE)


def message(
    trigger="value_changed",
    value="entered",
    profile="p-1",
    message_id="m-1",
    computation="aud-1",
    kind="audience",
    merged=(),
    new_id=None,
    event_time=10_000,
) -> ComputeMessage:
    return ComputeMessage(
        tenant=T,
        message_id=message_id,
        computation_id=computation,
        computation_kind=kind,
        profile_id=profile,
        value_json=json.dumps(value),
        trigger=Trigger(trigger),
        event_time_ms=event_time,
        merged_profile_ids=tuple(merged),
        external_id=new_id,
    )


def destination(
    destination_id="d-email", dedupes_on="email", computations=("aud-1",), enabled=True, kind="email"
) -> Destination:
    return Destination(T, destination_id, kind, tuple(computations), dedupes_on, enabled)


def profile(*ids, **memberships) -> ProfileState:
    return ProfileState(ids=tuple(sorted(ids)), known=True, computations=dict(memberships))
