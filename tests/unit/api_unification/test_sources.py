"""Each source's wire format becomes the same Action; partial acceptance keeps the good parts."""

import pytest

from common.contracts.rejections import Reason
from jobs.api_unification.unify import unify
from tests.unit.api_unification.conftest import ARRIVAL, NOW_ISO, raw


def _sdk(events, **over):
    doc = {
        "tenant": "acme",
        "sent_at": "2026-11-01T10:00:05Z",
        "message_id": "b-1",
        "device": {"id": "d1", "platform": "android", "app_version": "3.1"},
        "user": {"anonymous_id": "anon-1", "email": "Ann@X.io"},
        "events": events,
        "attributes": {"plan": "pro"},
    }
    doc.update(over)
    return doc


def _ev(name="viewed", time="2026-11-01T10:00:00Z", **props):
    return {"name": name, "time": time, "properties": props}


def test_sdk_batch_becomes_one_action_with_device_identifiers_events_and_attributes(registry):
    o = unify("sdk", raw(_sdk([_ev(price=3), _ev("added", price=4)])), ARRIVAL, registry)
    a = o.action
    assert (a.tenant, a.source, a.kind, a.message_id) == ("acme", "sdk", "batch", "b-1")
    assert a.identifiers.anonymous_ids == ["anon-1"] and a.identifiers.emails == ["ann@x.io"]
    assert a.identifiers.device_id == "d1" and a.device.platform == "android"
    assert [e.name for e in a.events] == ["viewed", "added"]
    assert a.events[0].time_ms == ARRIVAL - 5000  # 10:00:00 on a device clock 5 s behind -> 10:00:05
    assert [(x.op, x.name, x.value) for x in a.attributes] == [("set", "plan", "pro")]
    assert o.rejections == []


def test_one_bad_event_in_a_batch_of_50_keeps_the_49():
    from common.contracts.tenants import hash_write_key, parse_registry

    registry = parse_registry({"tenants": {"acme": {"write_keys": [hash_write_key("wk_acme")]}}})
    events = [_ev(n=i) for i in range(50)]
    events[17] = _ev(time="last tuesday")
    o = unify("sdk", raw(_sdk(events)), ARRIVAL, registry)
    assert len(o.action.events) == 49
    assert [(r.reason, r.path) for r in o.rejections] == [(Reason.TIMESTAMP_INVALID, "events[17]")]


def test_events_past_the_batch_limit_are_refused_one_by_one(registry):
    o = unify("sdk", raw(_sdk([_ev(n=i) for i in range(7)])), ARRIVAL, registry)
    assert len(o.action.events) == 5
    assert [(r.reason, r.path) for r in o.rejections] == [
        (Reason.LIMIT_EXCEEDED, "events[5]"),
        (Reason.LIMIT_EXCEEDED, "events[6]"),
    ]


def test_sdk_without_device_id(registry):
    o = unify("sdk", raw(_sdk([], device={"platform": "ios"})), ARRIVAL, registry)
    assert o.rejections[0].reason is Reason.MISSING_FIELD and o.action is None


def test_message_id_defaults_to_a_hash_of_the_bytes(registry):
    doc = {"type": "track", "tenant": "acme", "customer_id": "c1", "event": "x", "timestamp": NOW_ISO}
    a, b = unify("api", raw(doc), ARRIVAL, registry), unify("api", raw(doc), ARRIVAL + 5, registry)
    assert a.message_id == b.message_id and a.message_id.startswith("sha256:")


def test_api_types(registry):
    base = {"tenant": "acme", "customer_id": "c1", "timestamp": NOW_ISO}
    ident = unify(
        "api",
        raw(
            {
                **base,
                "type": "identify",
                "attributes": {"plan": "pro", "old": None},
                "attribute_ops": [{"op": "add_to_set", "name": "tags", "value": "vip"}],
            }
        ),
        ARRIVAL,
        registry,
    ).action
    assert [(x.op, x.name, x.value) for x in ident.attributes] == [
        ("set", "plan", "pro"),
        ("unset", "old", None),
        ("add_to_set", "tags", "vip"),
    ]
    alias = unify(
        "api", raw({**base, "type": "alias", "previous": {"anonymous_id": "anon-9"}}), ARRIVAL, registry
    ).action
    assert alias.identifiers.customer_id == "c1" and alias.identifiers.anonymous_ids == ["anon-9"]
    device = unify(
        "api", raw({**base, "type": "device", "device": {"id": "d7", "push_token": "tok"}}), ARRIVAL, registry
    ).action
    assert device.device.push_token == "tok" and device.identifiers.device_id == "d7"
    delete = unify("api", raw({**base, "type": "delete_user"}), ARRIVAL, registry).action
    assert delete.kind == "delete_user" and delete.events == [] and delete.attributes == []


def test_alias_without_previous_identifier(registry):
    o = unify(
        "api",
        raw({"tenant": "acme", "customer_id": "c1", "timestamp": NOW_ISO, "type": "alias", "previous": {}}),
        ARRIVAL,
        registry,
    )
    assert o.rejections[0].reason is Reason.MISSING_IDENTIFIER


def test_partner_segment_spec(registry):
    base = {"writeKey": "wk_acme", "userId": "u1", "anonymousId": "a1", "timestamp": NOW_ISO, "messageId": "seg-1"}
    track = unify(
        "partner",
        raw({**base, "type": "track", "event": "Order Completed", "properties": {"total": 9}}),
        ARRIVAL,
        registry,
    )
    assert track.tenant == "acme" and track.action.message_id == "seg-1"
    assert track.action.identifiers.customer_id == "u1" and track.action.identifiers.anonymous_ids == ["a1"]
    assert track.action.events[0].name == "Order Completed"
    ident = unify(
        "partner", raw({**base, "type": "identify", "traits": {"email": "U1@x.io", "plan": "pro"}}), ARRIVAL, registry
    ).action
    assert ident.identifiers.emails == ["u1@x.io"] and ("set", "plan", "pro") in [
        (x.op, x.name, x.value) for x in ident.attributes
    ]
    page = unify("partner", raw({**base, "type": "page", "name": "Home"}), ARRIVAL, registry).action
    assert page.events[0].name == "page_viewed" and page.events[0].properties == {"name": "Home"}
    screen = unify("partner", raw({**base, "type": "screen", "name": "Cart"}), ARRIVAL, registry).action
    assert screen.events[0].name == "screen_viewed"
    group = unify(
        "partner", raw({**base, "type": "group", "groupId": "g1", "traits": {"size": 5}}), ARRIVAL, registry
    ).action
    assert [(x.op, x.name, x.value) for x in group.attributes] == [
        ("add_to_set", "group_ids", "g1"),
        ("set", "group.size", 5),
    ]
    alias = unify("partner", raw({**base, "type": "alias", "previousId": "old-7"}), ARRIVAL, registry).action
    assert "old-7" in alias.identifiers.anonymous_ids


@pytest.mark.parametrize("context", [True, "ctx", 5, ["traits"]])
def test_partner_context_that_is_not_an_object_is_refused_with_its_field(registry, context):
    # found by the hostile-input fuzz: `"context": true` raised AttributeError in the rules
    o = unify(
        "partner",
        raw(
            {
                "writeKey": "wk_acme",
                "userId": "u1",
                "timestamp": NOW_ISO,
                "type": "group",
                "groupId": "g5",
                "context": context,
            }
        ),
        ARRIVAL,
        registry,
    )
    assert [(r.reason, r.detail) for r in o.rejections] == [(Reason.INVALID_FIELD, "context must be an object")]
    assert o.action is None


def test_partner_unknown_write_key(registry):
    o = unify(
        "partner",
        raw({"type": "track", "writeKey": "wk_nobody", "userId": "u1", "event": "x", "timestamp": NOW_ISO}),
        ARRIVAL,
        registry,
    )
    assert o.rejections[0].reason is Reason.WRITE_KEY_REFUSED


def test_csv_rows_use_the_api_format_with_source_csv(registry):
    o = unify(
        "csv",
        raw(
            {
                "type": "identify",
                "tenant": "acme",
                "customer_id": "c1",
                "timestamp": NOW_ISO,
                "attributes": {"plan": "pro"},
                "import": {"file": "f.csv", "line": 2},
            }
        ),
        ARRIVAL,
        registry,
    )
    assert o.action.source == "csv" and o.action.kind == "identify"


def test_a_rule_that_fails_on_unforeseen_input_refuses_the_message_instead_of_raising(registry, monkeypatch):
    from jobs.api_unification import unify as unify_module

    def broken(doc, ctx):
        raise AttributeError("'bool' object has no attribute 'get'")

    monkeypatch.setitem(unify_module.PARSERS, "partner", broken)
    o = unify(
        "partner",
        raw({"writeKey": "wk_acme", "userId": "u1", "timestamp": NOW_ISO, "type": "track"}),
        ARRIVAL,
        registry,
    )
    assert o.action is None
    assert [r.reason for r in o.rejections] == [Reason.INVALID_FIELD]
    assert o.rejections[0].detail.startswith(unify_module.UNFORESEEN + " (AttributeError:")
