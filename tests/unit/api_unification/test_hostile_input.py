"""10,000 malformed, truncated, oversized, wrongly typed and hostile payloads (harness/hostile.py)
through api-unification's rules: none raises, each is refused with a reason code or accepted for the
tenant it belongs to, and nothing of one tenant ends up in another's action. The same payloads go
through the running jobs in tests/integration/test_hostile_input.py."""

from dataclasses import asdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.contracts.actions import routing_key
from common.contracts.rejections import Reason
from common.contracts.tenants import load_registry
from common.serde.avro import AvroCodec
from harness.hostile import SOURCES, foreign_markers, payloads
from jobs.api_unification.records import encode_action, encode_rejection
from jobs.api_unification.unify import UNFORESEEN, WRONG_KEY, unify

ARRIVAL_MS = 1_795_000_000_000
REGISTRY = load_registry()
CODEC = AvroCodec()
WHOLE_MESSAGE_REASON = {
    "oversized": Reason.PAYLOAD_TOO_LARGE,
    "nan": Reason.INVALID_JSON,
    "duplicate_key": Reason.INVALID_JSON,
    "invalid_utf8": Reason.INVALID_JSON,
    "truncated": Reason.INVALID_JSON,
    "spoofed": Reason.WRITE_KEY_REFUSED,
}


@pytest.mark.parametrize("source", SOURCES)
@settings(
    max_examples=2_500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(data=st.data())
def test_every_payload_is_refused_with_a_reason_or_accepted_for_its_own_tenant(source, data):
    payload = data.draw(payloads(source, ARRIVAL_MS))
    outcome = unify(source, payload.raw, ARRIVAL_MS, REGISTRY)  # raises for no input
    for rejection in outcome.rejections:
        assert isinstance(rejection.reason, Reason) and rejection.detail
        assert not rejection.detail.startswith(UNFORESEEN), f"a rule failed on this input: {rejection.detail}"
        # what the job writes for it must encode (Avro, then Kafka and the JVM take UTF-8 only)
        encode_rejection(
            CODEC,
            rejection,
            source=source,
            tenant=outcome.tenant,
            message_id=outcome.message_id,
            arrival_ms=ARRIVAL_MS,
            original=payload.raw,
        )
        outcome.message_id.encode("utf-8")
        if rejection.reason is Reason.WRITE_KEY_REFUSED:  # says nothing of which tenants exist
            assert outcome.tenant is None and (
                rejection.detail == WRONG_KEY or rejection.detail.startswith("no write key")
            )
    whole = [r for r in outcome.rejections if r.path == ""]
    if outcome.action is None:
        assert whole, "refused without a whole-message reason"
    else:
        assert not whole
        assert outcome.action.tenant == payload.tenant
        # the job keys it by this (a Flink string: UTF-8 only), inside its own tenant
        assert routing_key(outcome.action).encode("utf-8").startswith(f"{payload.tenant}\x1f".encode())
        assert not foreign_markers(asdict(outcome.action), payload.tenant)
        encode_action(CODEC, outcome.action, ARRIVAL_MS)
    if payload.mutation == "valid":
        assert outcome.action is not None, outcome.rejections
    if payload.mutation in WHOLE_MESSAGE_REASON:
        assert [r.reason for r in whole] == [WHOLE_MESSAGE_REASON[payload.mutation]], whole
