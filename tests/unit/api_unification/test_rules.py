"""Every rule of the stateless stage, and every reason code it can give."""

import json

import pytest

from common.contracts.rejections import Reason, Refusal
from jobs.api_unification.identifiers import normalize_email, normalize_phone
from jobs.api_unification.timestamps import check_window, parse_time_ms, skew_corrected
from jobs.api_unification.unify import WRONG_KEY, unify
from tests.unit.api_unification.conftest import ARRIVAL, NOW_ISO, raw


def _track(**over):
    doc = {"type": "track", "tenant": "acme", "customer_id": "c1", "event": "viewed", "timestamp": NOW_ISO}
    doc.update(over)
    return doc


def _whole(outcome):
    assert outcome.action is None
    assert len(outcome.rejections) == 1 and outcome.rejections[0].path == ""
    return outcome.rejections[0].reason


# --- identifiers ------------------------------------------------------------------------------------
def test_email_is_validated_and_lowercased():
    assert normalize_email("  Ann.Lee+x@Example.COM ") == "ann.lee+x@example.com"
    for bad in ("no-at-sign", "a@b", "a b@c.com", 42, "a@-x.com"):
        with pytest.raises(Refusal) as err:
            normalize_email(bad)
        assert err.value.reason is Reason.INVALID_EMAIL


def test_phone_is_normalised_to_e164():
    assert normalize_phone("+44 20 7946 0958", None) == "+442079460958"
    assert normalize_phone("(415) 555-0132", "US") == "+14155550132"


@pytest.mark.parametrize("value,region", [("12", "US"), ("(415) 555-0132", None), ("not a phone", "US"), (True, "US")])
def test_invalid_phone(value, region):
    with pytest.raises(Refusal) as err:
        normalize_phone(value, region)
    assert err.value.reason is Reason.INVALID_PHONE


def test_message_with_invalid_email_is_refused(registry):
    assert _whole(unify("api", raw(_track(email="nope")), ARRIVAL, registry)) is Reason.INVALID_EMAIL


def test_message_with_invalid_phone_is_refused(registry):
    assert _whole(unify("api", raw(_track(phone="123")), ARRIVAL, registry)) is Reason.INVALID_PHONE


def test_at_least_one_identifier(registry):
    doc = _track()
    del doc["customer_id"]
    assert _whole(unify("api", raw(doc), ARRIVAL, registry)) is Reason.MISSING_IDENTIFIER


# --- timestamps ---------------------------------------------------------------------------------------
def test_iso_and_epoch_millis_parse_to_the_same_instant():
    assert parse_time_ms("2026-11-01T10:00:00Z", "t") == parse_time_ms(1_793_527_200_000, "t") == 1_793_527_200_000
    assert parse_time_ms("2026-11-01T11:00:00+01:00", "t") == 1_793_527_200_000
    assert parse_time_ms("1793527200000", "t") == 1_793_527_200_000


@pytest.mark.parametrize("value", ["yesterday", 1_793_527_200, True, None, float("nan"), {"t": 1}])
def test_unparseable_timestamps(value):
    with pytest.raises(Refusal) as err:
        parse_time_ms(value, "t")
    assert err.value.reason is Reason.TIMESTAMP_INVALID


def test_window_around_arrival():
    day, minute = 86_400_000, 60_000
    assert check_window(ARRIVAL - 29 * day, ARRIVAL, 30 * day, 60 * minute, "t") == ARRIVAL - 29 * day
    for t in (ARRIVAL - 31 * day, ARRIVAL + 61 * minute):
        with pytest.raises(Refusal) as err:
            check_window(t, ARRIVAL, 30 * day, 60 * minute, "t")
        assert err.value.reason is Reason.TIMESTAMP_OUT_OF_RANGE


def test_out_of_range_message_is_refused(registry):
    assert (
        _whole(unify("api", raw(_track(timestamp="2020-01-01T00:00:00Z")), ARRIVAL, registry))
        is Reason.TIMESTAMP_OUT_OF_RANGE
    )
    assert _whole(unify("api", raw(_track(timestamp="an hour ago")), ARRIVAL, registry)) is Reason.TIMESTAMP_INVALID


def test_sent_at_skew_correction():
    # the device clock is 5 s behind: it says sent_at 10:00:05, the batch arrives at 10:00:10
    assert skew_corrected(1000, sent_at_ms=ARRIVAL - 5000, arrival_ms=ARRIVAL) == 6000
    assert skew_corrected(1000, sent_at_ms=None, arrival_ms=ARRIVAL) == 1000


# --- envelope-level refusals ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "payload", [b"not json", b"\xff\xfe{}", b'{"a": NaN}', b'{"a": 1, "a": 2}', b"[1, 2]", b'"str"']
)
def test_invalid_json(registry, payload):
    assert _whole(unify("api", payload, ARRIVAL, registry)) is Reason.INVALID_JSON


def test_deep_nesting_is_invalid_json_not_a_crash():
    from common.contracts.tenants import hash_write_key, parse_registry

    defaults = parse_registry(
        {"tenants": {"acme": {"write_keys": [hash_write_key("wk_acme")]}}}
    )  # 256 KiB payload limit
    nested = b'{"a":' * 20_000 + b"1" + b"}" * 20_000  # 120 kB, 20,000 levels
    assert _whole(unify("api", nested, ARRIVAL, defaults)) is Reason.INVALID_JSON


def test_nesting_is_refused_at_one_depth_whatever_the_recursion_limit(registry):
    """Python's parser gives up at a depth that depends on the stack it runs on: the rule must not."""
    import sys

    doc = json.loads(raw(_track()))

    def nested(depth: int) -> bytes:
        return raw({**doc, "traits": None}).replace(b'"traits": null', b'"traits": ' + b"[" * depth + b"]" * depth)

    limit = sys.getrecursionlimit()
    try:
        for recursion_limit in (limit, 5_000):
            sys.setrecursionlimit(recursion_limit)
            accepted = unify("api", nested(99), ARRIVAL, registry)  # 100 levels, the message's object included
            assert accepted.action is not None and accepted.rejections == []
            assert _whole(unify("api", nested(100), ARRIVAL, registry)) is Reason.INVALID_JSON
    finally:
        sys.setrecursionlimit(limit)


def _refusal(outcome) -> tuple[Reason, str, str | None]:
    return outcome.rejections[0].reason, outcome.rejections[0].detail, outcome.tenant


def test_the_write_key_names_the_tenant_and_a_bad_one_never_says_which_tenants_exist(registry):
    keyless = _refusal(unify("api", raw(_track(), signed=False), ARRIVAL, registry))
    assert keyless == (Reason.WRITE_KEY_REFUSED, "no write key: records of source api carry it in write_key", None)
    assert _refusal(unify("api", raw(_track(write_key="")), ARRIVAL, registry)) == keyless
    wrong = [
        _track(tenant="other", write_key="wk_other"),  # a tenant that does not exist
        _track(write_key="wk_other"),  # a tenant that exists, a key nobody holds
        _track(write_key="wk_strict"),  # another tenant's key: a leaked SDK build writing into acme
        _track(tenant="other", write_key="wk_acme"),  # a valid key with a tenant it is not for
    ]
    for doc in wrong:  # one detail, whether the named tenant exists or not
        assert _refusal(unify("api", raw(doc), ARRIVAL, registry)) == (Reason.WRITE_KEY_REFUSED, WRONG_KEY, None), doc
    without_tenant = _track(write_key="wk_acme")
    del without_tenant["tenant"]
    assert unify("api", raw(without_tenant), ARRIVAL, registry).action.tenant == "acme"
    partner = {"type": "track", "writeKey": "wk_strict", "userId": "u", "event": "e", "timestamp": NOW_ISO}
    assert unify("partner", raw(partner), ARRIVAL, registry).action.tenant == "strict"
    assert _refusal(unify("partner", raw({**partner, "write_key": "wk_strict", "writeKey": None}), ARRIVAL, registry))[
        :2
    ] == (Reason.WRITE_KEY_REFUSED, "no write key: records of source partner carry it in writeKey")


def test_two_keys_are_valid_at_once_while_a_key_rotates():
    from common.contracts.tenants import hash_write_key, parse_registry

    rotating = parse_registry({"tenants": {"acme": {"write_keys": [hash_write_key(k) for k in ("wk_old", "wk_new")]}}})
    for key in ("wk_old", "wk_new"):
        assert unify("api", raw(_track(write_key=key)), ARRIVAL, rotating).action.tenant == "acme"
    assert _whole(unify("api", raw(_track(write_key="wk_acme")), ARRIVAL, rotating)) is Reason.WRITE_KEY_REFUSED


def test_payload_too_large(registry):
    outcome = unify("api", raw(_track(properties={"x": "y" * 3000})), ARRIVAL, registry)
    assert _whole(outcome) is Reason.PAYLOAD_TOO_LARGE


def test_unsupported_message_type(registry):
    assert _whole(unify("api", raw(_track(type="teleport")), ARRIVAL, registry)) is Reason.UNSUPPORTED_TYPE
    assert (
        _whole(unify("partner", raw({"type": "teleport", "writeKey": "wk_acme", "userId": "u"}), ARRIVAL, registry))
        is Reason.UNSUPPORTED_TYPE
    )


def test_required_fields(registry):
    doc = _track()
    del doc["event"]
    assert _whole(unify("api", raw(doc), ARRIVAL, registry)) is Reason.MISSING_FIELD
    doc = _track()
    del doc["timestamp"]
    assert _whole(unify("api", raw(doc), ARRIVAL, registry)) is Reason.MISSING_FIELD
    assert _whole(unify("api", raw(_track(type="identify")), ARRIVAL, registry)) is Reason.MISSING_FIELD
    assert _whole(unify("api", raw(_track(type="device")), ARRIVAL, registry)) is Reason.MISSING_FIELD


def test_invalid_field_types(registry):
    assert _whole(unify("api", raw(_track(properties=[1, 2])), ARRIVAL, registry)) is Reason.INVALID_FIELD
    assert _whole(unify("api", raw(_track(customer_id={"a": 1})), ARRIVAL, registry)) is Reason.INVALID_FIELD


# --- values ------------------------------------------------------------------------------------------------
def test_properties_are_flattened_and_checked(registry):
    outcome = unify(
        "api", raw(_track(properties={"cart": {"total": 3.5, "items": ["a", "b"]}, "ok": True})), ARRIVAL, registry
    )
    assert outcome.action.events[0].properties == {"cart.total": 3.5, "cart.items": ["a", "b"], "ok": True}


@pytest.mark.parametrize(
    "props,reason",
    [
        ({"a": {"b": {"c": {"d": 1}}}}, Reason.UNSUPPORTED_TYPE),  # nested deeper than 3
        ({"a": [{"x": 1}]}, Reason.UNSUPPORTED_TYPE),  # list of objects
        ({"a": 2**70}, Reason.UNSUPPORTED_TYPE),  # beyond 64 bits
        ({"a": "x" * 21}, Reason.LIMIT_EXCEEDED),  # string length
        ({"a": 1, "b": 2, "c": 3, "d": 4}, Reason.LIMIT_EXCEEDED),  # properties per event
        ({"$set": 1}, Reason.INVALID_FIELD),  # name
        ({"a..b": 1}, Reason.INVALID_FIELD),
    ],
)
def test_bad_values_refuse_the_event(registry, props, reason):
    assert _whole(unify("api", raw(_track(properties=props)), ARRIVAL, registry)) is reason


@pytest.mark.parametrize("escaped", [r'"\ud800"', r'"x\udfff"', r'["ok", "\uDBFF"]'])
def test_an_unpaired_surrogate_escape_is_refused_as_invalid_json(escaped):
    """Found by the hostile-input test: `"\\ud800"` is valid JSON syntax but no UTF-8 text, and the
    job failed (and restarted) handing it to the JVM. It is refused at parse time instead."""
    from jobs.api_unification.parsing import parse_object

    with pytest.raises(Refusal) as refused:
        parse_object(('{"tenant": "acme", "customer_id": ' + escaped + "}").encode())
    assert refused.value.reason is Reason.INVALID_JSON
    assert parse_object(rb'{"emoji": "\ud83d\ude00"}') == {"emoji": "\U0001f600"}  # a pair is one character
