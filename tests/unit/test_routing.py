"""Routing below the tenant (common/contracts/routing.py): a message at its strongest identifier, a
link at each other one, in the level order that claims follow."""

from common.contracts.actions import Action, AttributeOp, Device, Event, Identifiers
from common.contracts.routing import LINK, home_key, level, routed, routing_key


def _action(ids, kind="batch", events=(1000, 3000)):
    device = Device(ids.device_id, platform="ios") if ids.device_id else None
    return Action(
        "acme",
        "sdk",
        "m1",
        kind,
        max(events, default=5000),
        ids,
        device,
        [Event("e", t, {}) for t in events],
        [AttributeOp("set", "plan", "pro")],
    )


def test_levels_order_the_kinds_weakest_first():
    keys = ["device:d", "anonymous_id:a", "phone:p", "email:e", "customer_id:c"]
    assert [level(k) for k in keys] == [0, 1, 2, 3, 4]


def test_the_home_is_the_strongest_identifier_and_a_device_only_when_alone():
    assert home_key(Identifiers(anonymous_ids=["a"], emails=["e"], device_id="d")) == "email:e"
    assert home_key(Identifiers(customer_id="c", emails=["e"])) == "customer_id:c"
    assert home_key(Identifiers(device_id="d")) == "device:d"
    assert home_key(Identifiers()) is None


def test_a_message_goes_home_whole_and_links_everywhere_else():
    action = _action(Identifiers(customer_id="c", anonymous_ids=["a"], device_id="d"))
    out = routed(action)
    assert [key for key, _ in out] == ["customer_id:c", "anonymous_id:a", "device:d"]
    assert out[0][1] is action
    anonymous, device = out[1][1], out[2][1]
    assert anonymous.kind == device.kind == LINK
    assert anonymous.events == anonymous.attributes == [] and anonymous.device is None
    assert anonymous.time_ms == 1000  # the earliest event: what first-seen times are made of
    assert device.device == action.device and device.time_ms == 3000  # ownership follows the message time
    assert anonymous.identifiers == action.identifiers and anonymous.message_id == "m1"


def test_a_delete_goes_home_and_links_nothing():
    assert [k for k, _ in routed(_action(Identifiers(customer_id="c", emails=["e"]), kind="delete_user"))] == [
        "customer_id:c"
    ]


def test_routing_keys_name_tenant_and_identifier():
    assert routing_key("acme", "email:a@b.c") == b"acme|email:a@b.c"


def test_api_unification_encodes_an_action_as_its_routed_records():
    from common.serde.avro import AvroCodec
    from jobs.api_unification.records import ROUTED, action_records, encode_action

    codec = AvroCodec()
    action = _action(Identifiers(customer_id="c", anonymous_ids=["a"]))
    key, value = encode_action(codec, action, 7)
    assert key == ROUTED
    records = action_records(codec, key, value)
    assert [k for k, _ in records] == [b"acme|customer_id:c", b"acme|anonymous_id:a"]
    assert [codec.decode(v)["kind"] for _, v in records] == ["batch", LINK]


def test_an_action_keyed_by_tenant_in_an_older_savepoint_is_routed_when_it_leaves():
    """api-unification 0.2 kept a message waiting for its schema as the action keyed by tenant."""
    from common.contracts.actions import action_record
    from common.serde.avro import AvroCodec
    from jobs.api_unification.records import action_records, encode_action

    codec = AvroCodec()
    action = _action(Identifiers(customer_id="c", anonymous_ids=["a"]))
    old = codec.encode("unified_action", action_record(action, 7))
    assert action_records(codec, b"acme", old) == action_records(codec, *encode_action(codec, action, 7))
