"""First observed type wins; conflicts follow the tenant's policy; distinct-name limits hold."""

from common.contracts.actions import Action, AttributeOp, Event, Identifiers
from common.contracts.rejections import Reason
from jobs.api_unification.tenant_schema import TenantSchema


def _action(*events, attributes=()):
    return Action(
        "acme",
        "api",
        "m",
        "track",
        0,
        Identifiers(customer_id="c"),
        events=[Event(name, 0, dict(props), f"events[{i}]") for i, (name, props) in enumerate(events)],
        attributes=list(attributes),
    )


def test_first_type_wins_and_drop_policy_drops_and_counts(registry):
    schema = TenantSchema()
    assert schema.admit(_action(("viewed", {"price": 3, "sku": "a"})), registry.get("acme")) == ([], True)
    later = _action(("viewed", {"price": "cheap", "sku": "b"}))
    rejections, changed = schema.admit(later, registry.get("acme"))
    assert rejections == [] and not changed
    assert later.events[0].properties == {"sku": "b"}
    assert later.dropped == ["events[0].properties.price"]


def test_ints_and_floats_are_one_type_and_null_matches_anything(registry):
    schema = TenantSchema()
    schema.admit(_action(("viewed", {"price": 3})), registry.get("acme"))
    a = _action(("viewed", {"price": 3.5}), ("viewed", {"price": None}))
    assert schema.admit(a, registry.get("acme"))[0] == [] and a.dropped == []


def test_reject_policy_refuses_the_event_and_learns_nothing_from_it(registry):
    schema = TenantSchema()
    schema.admit(_action(("viewed", {"price": 3})), registry.get("strict"))
    a = _action(("viewed", {"price": "x", "new_prop": 1}), ("other", {}))
    rejections, _ = schema.admit(a, registry.get("strict"))
    assert [(r.reason, r.path) for r in rejections] == [(Reason.TYPE_CONFLICT, "events[0].properties.price")]
    assert [e.name for e in a.events] == ["other"]
    assert "viewed\x1fnew_prop" not in schema.property_types


def test_same_property_name_on_different_events_is_independent(registry):
    schema = TenantSchema()
    schema.admit(_action(("a", {"v": 1})), registry.get("strict"))
    assert schema.admit(_action(("b", {"v": "text"})), registry.get("strict"))[0] == []


def test_distinct_event_name_limit(registry):
    schema = TenantSchema()
    a = _action(("e1", {}), ("e2", {}), ("e3", {}), ("e4", {}), ("e1", {}))
    rejections, _ = schema.admit(a, registry.get("acme"))
    assert [(r.reason, r.path) for r in rejections] == [(Reason.LIMIT_EXCEEDED, "events[3]")]
    assert [e.name for e in a.events] == ["e1", "e2", "e3", "e1"]


def test_attributes_types_policies_and_limit(registry):
    schema = TenantSchema()
    schema.admit(
        _action(attributes=[AttributeOp("set", "plan", "pro"), AttributeOp("add_to_set", "tags", "x")]),
        registry.get("acme"),
    )
    drop = _action(
        attributes=[AttributeOp("set", "plan", 3), AttributeOp("unset", "plan"), AttributeOp("pull", "tags", "x")]
    )
    assert schema.admit(drop, registry.get("acme"))[0] == []
    assert [(x.op, x.name) for x in drop.attributes] == [("unset", "plan"), ("pull", "tags")]
    assert drop.dropped == ["attributes.plan"]
    strict = TenantSchema()
    strict.admit(_action(attributes=[AttributeOp("set", "plan", "pro")]), registry.get("strict"))
    rej = _action(attributes=[AttributeOp("set", "plan", True)])
    assert [(r.reason, r.path) for r in strict.admit(rej, registry.get("strict"))[0]] == [
        (Reason.TYPE_CONFLICT, "attributes.plan")
    ]
    full = _action(attributes=[AttributeOp("set", f"a{i}", 1) for i in range(4)])
    rejections, _ = TenantSchema().admit(full, registry.get("acme"))
    assert [(r.reason, r.path) for r in rejections] == [(Reason.LIMIT_EXCEEDED, "attributes.a3")]
