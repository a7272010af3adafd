"""The identity rules below the tenant (jobs/action_streaming/levels.py), case by case, through the
reference model (harness/models/identity_network.py): what docs/identity.md promises survives, and
the rules that changed change as documented, counted."""

from common.contracts.actions import Action, AttributeOp, Device, Event, Identifiers
from common.contracts.routing import seal
from harness.models.identity_network import Network, reference
from jobs.action_streaming.device_state import device_doc_id
from jobs.action_streaming.level_codec import pack_key_state
from jobs.action_streaming.levels import GONE_VERSION, user_id

T0 = 1_795_000_000_000


def _a(mid, t, kind="batch", events=1, device_platform=None, attributes=(), push_token=None, **ids):
    identifiers = Identifiers(**ids)
    device = (
        Device(identifiers.device_id, platform=device_platform, push_token=push_token)
        if identifiers.device_id
        else None
    )
    return Action(
        "acme",
        "sdk",
        mid,
        kind,
        T0 + t,
        identifiers,
        device,
        [Event("open", T0 + t, {}) for _ in range(events if kind == "batch" else 0)],
        list(attributes),
    )


def _users(out):
    return {
        doc["user_id"]: doc
        for (collection, _), doc in out.documents().items()
        if collection == "users" and not doc.get("deleted")
    }


def _uid(key):
    return user_id(seal("acme", key))


def test_an_anonymous_visitor_who_logs_in_becomes_the_customer():
    out = reference(
        [
            _a("m1", 1, anonymous_ids=["a1"], attributes=[AttributeOp("set", "plan", "free")]),
            _a("m2", 2, anonymous_ids=["a1"]),
            _a("m3", 3, customer_id="c1", anonymous_ids=["a1"]),
            _a("m4", 4, anonymous_ids=["a1"]),  # after the login: the customer's
        ],
        {},
    )
    users = _users(out)
    assert list(users) == [_uid("customer_id:c1")]
    doc = users[_uid("customer_id:c1")]
    assert doc["customer_id"] == "c1" and doc["anonymous_ids"] == ["a1"]
    assert doc["counters"] == {"open": 4} and doc["attributes"] == {"plan": "free"} and doc["first_seen"] == T0 + 1
    anonymous = _uid("anonymous_id:a1")
    assert out.profiles[f"acme:{anonymous}"] == ({}, _uid("customer_id:c1"), False)
    assert out.documents()[("users", f"acme:{anonymous}")] == {"version": GONE_VERSION, "deleted": True}
    assert out.counts["merges"] == 1


def test_two_anonymous_profiles_that_share_an_email_are_one_user():
    out = reference(
        [
            _a("m1", 1, anonymous_ids=["a1"]),
            _a("m2", 2, anonymous_ids=["a2"]),
            _a("m3", 3, emails=["e@x.io"], anonymous_ids=["a1"]),
            _a("m4", 4, emails=["e@x.io"], anonymous_ids=["a2"]),
        ],
        {},
    )
    assert list(_users(out)) == [_uid("email:e@x.io")]
    assert _users(out)[_uid("email:e@x.io")]["anonymous_ids"] == ["a1", "a2"]


def test_an_email_then_its_customer_links_the_whole_chain():
    out = reference(
        [
            _a("m1", 1, anonymous_ids=["a1"]),
            _a("m2", 2, phones=["+1"], anonymous_ids=["a1"]),
            _a("m3", 3, emails=["e@x.io"], phones=["+1"]),
            _a("m4", 4, customer_id="c1", emails=["e@x.io"]),
        ],
        {},
    )
    doc = _users(out)[_uid("customer_id:c1")]
    assert (doc["emails"], doc["phones"], doc["anonymous_ids"], doc["counters"]) == (
        ["e@x.io"],
        ["+1"],
        ["a1"],
        {"open": 4},
    )
    assert len(_users(out)) == 1


def test_two_customers_never_merge_and_the_conflict_is_counted():
    out = reference(
        [
            _a("m1", 1, customer_id="c1", emails=["e@x.io"]),
            _a("m2", 2, customer_id="c2", emails=["e@x.io"]),
        ],
        {},
    )
    users = _users(out)
    assert users[_uid("customer_id:c1")]["emails"] == ["e@x.io"] and users[_uid("customer_id:c2")]["emails"] == []
    assert out.counts["conflicts"] == 1


def test_a_weaker_identifier_never_glues_two_stronger_ones():
    """The rule that changed: an anonymous id seen with two emails stays with the first."""
    out = reference(
        [
            _a("m1", 1, emails=["e1@x.io"], anonymous_ids=["a1"]),
            _a("m2", 2, emails=["e2@x.io"], anonymous_ids=["a1"]),
            _a("m3", 3, emails=["e1@x.io", "e2@x.io"]),  # two of a kind link nothing either
        ],
        {},
    )
    users = _users(out)
    assert set(users) == {_uid("email:e1@x.io"), _uid("email:e2@x.io")}
    assert users[_uid("email:e1@x.io")]["anonymous_ids"] == ["a1"]
    assert out.counts["links_refused_by_level"] == 2


def test_a_device_moves_to_the_latest_user_by_event_time():
    out = reference(
        [
            _a("m1", 1, customer_id="c1", device_id="d1", device_platform="ios", push_token="tok-c1"),
            _a("m2", 5, customer_id="c2", device_id="d1", device_platform="ios"),
            _a("m3", 3, customer_id="c1", device_id="d1"),  # late: the device stays with c2
        ],
        {},
    )
    users = _users(out)
    assert users[_uid("customer_id:c1")]["devices"] == [] and users[_uid("customer_id:c2")]["devices"] == ["d1"]
    device = out.documents()[("devices", device_doc_id("acme", "d1"))]
    assert device["owner"] == _uid("customer_id:c2") and device["platform"] == "ios"
    assert device["last_seen"] == T0 + 5
    # In new hands it starts over: c1's push token is not c2's (docs/identity.md), counted.
    assert "push_token" not in device and out.counts["device_fields_restarted"] == 1


def test_a_device_alone_is_a_user_until_its_first_owner_takes_it():
    out = reference(
        [
            _a("m1", 1, device_id="d1"),
            _a("m2", 2, device_id="d1"),
            _a("m3", 3, anonymous_ids=["a1"], device_id="d1"),
            _a("m4", 4, device_id="d1"),  # now the owner's
        ],
        {},
    )
    users = _users(out)
    assert list(users) == [_uid("anonymous_id:a1")]
    assert users[_uid("anonymous_id:a1")]["counters"] == {"open": 4} and users[_uid("anonymous_id:a1")]["devices"] == [
        "d1"
    ]


def test_a_delete_removes_the_user_and_its_devices_and_suppresses_what_follows():
    out = reference(
        [
            _a("m1", 1, customer_id="c1", anonymous_ids=["a1"], device_id="d1"),
            _a("m2", 2, kind="delete_user", customer_id="c1"),
            _a("m3", 3, anonymous_ids=["a1"]),  # the deleted user's: dropped, counted
            _a("m4", 4, customer_id="c1"),
        ],
        {},
    )
    assert _users(out) == {}
    assert out.documents()[("devices", device_doc_id("acme", "d1"))]["deleted"]
    assert out.profiles[f"acme:{_uid('customer_id:c1')}"] == ({}, None, True)
    assert out.counts["dropped_deleted"] == 2 and out.counts["messages"] == 1


def test_after_a_delete_the_state_names_the_users_identifiers_only_sealed():
    """Keys, claims and owners are sealed (routing.seal), a delete clears the root's profile, and the
    root's forget clears its devices' fields at their keys, so nothing of what a job keeps names a
    deleted identifier or holds its push token."""
    network = Network({})
    network.run(
        [
            _a("m1", 1, anonymous_ids=["anon-gone"], device_id="dev-gone", push_token="tok-gone"),
            _a("m2", 2, customer_id="cust-gone", emails=["gone@x.io"], anonymous_ids=["anon-gone"]),
            _a("m3", 3, customer_id="cust-gone", device_id="dev-gone"),
            _a("m4", 4, kind="delete_user", customer_id="cust-gone"),
            _a("m5", 5, customer_id="cust-kept", emails=["kept@x.io"]),
        ]
    )
    kept = repr([(key, pack_key_state(state)) for key, state in network.states.items()])
    assert "gone" not in kept, kept
    assert network.out.counts["devices_forgotten"] == 1
    assert "kept@x.io" in kept  # a live user's profile lists its identifiers: the search sees them


def test_the_cap_limits_what_a_user_lists_and_counts_the_rest():
    out = reference([_a(f"m{i}", i, customer_id="c1", anonymous_ids=[f"a{i}"]) for i in range(4)], {"acme": 2})
    assert _users(out)[_uid("customer_id:c1")]["anonymous_ids"] == ["a0", "a1"]
    assert out.counts["capped"] == 2


def test_events_carry_the_user_of_their_root_and_its_attributes():
    out = reference([_a("m1", 1, customer_id="c1", attributes=[AttributeOp("set", "plan", "pro")])], {})
    assert out.events == [("m1", _uid("customer_id:c1"), 0)]


def test_a_device_key_packed_before_forgets_restores_with_the_digests_of_its_fields():
    """level_codec adds the device's digests, owner version and forgotten flag at the end: a state
    packed before them (five fields) restores, and a later change is still seen as one."""
    import pickle

    from jobs.action_streaming.level_codec import unpack_key_state
    from jobs.action_streaming.levels import field_digest

    old = pickle.dumps(("customer_id:#x", 900, None, ("customer_id:#x", (2000, "m-3"), {"platform": "ios"}, 2000, 2)))
    device = unpack_key_state(old).device
    assert device.digests == {"platform": field_digest("ios")} and device.since_version == 0 and not device.forgotten
