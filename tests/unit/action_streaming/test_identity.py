"""Identity rules of docs/identity.md, one scenario each."""

from common.contracts.actions import Identifiers
from jobs.action_streaming.identity import MemoryIdentityStore, delete, new_user_id, resolve

CAP = 5


def _see(store, message_id, time_ms=1000, cap=CAP, **ids):
    r = resolve("acme", message_id, Identifiers(**ids), time_ms, store, cap)
    store.apply(r)
    return r


def test_unknown_identifiers_create_a_user_with_a_deterministic_id():
    store = MemoryIdentityStore()
    r = _see(store, "m1", anonymous_ids=["anon-1"])
    assert r.created and r.user.user_id == new_user_id("acme", "m1", "anonymous_id:anon-1")
    again = resolve("acme", "m1", Identifiers(anonymous_ids=["anon-1"]), 1000, MemoryIdentityStore(), CAP)
    assert again.user.user_id == r.user.user_id  # a replay of the same message creates the same id


def test_known_identifier_updates_that_user_and_links_new_ones():
    store = MemoryIdentityStore()
    first = _see(store, "m1", customer_id="c1")
    r = _see(store, "m2", customer_id="c1", emails=["a@x.io"])
    assert not r.created and r.user.user_id == first.user.user_id and r.added == ["email:a@x.io"]
    assert store.owner("email:a@x.io") == first.user.user_id


def test_anonymous_visitor_logs_in_and_merges_into_the_identified_user():
    store = MemoryIdentityStore()
    anon = _see(store, "m1", time_ms=500, anonymous_ids=["anon-1"], device_id="d1")
    known = _see(store, "m2", time_ms=900, customer_id="c1", emails=["a@x.io"])
    r = _see(store, "m3", time_ms=1000, customer_id="c1", anonymous_ids=["anon-1"])
    survivor = known.user.user_id  # the one with a customer_id wins, though the anonymous one is older
    assert r.user.user_id == survivor and r.merged == [anon.user.user_id]
    assert r.user.anonymous_ids == ["anon-1"] and r.user.devices == ["d1"] and r.user.first_seen_ms == 500
    assert store.owner("anonymous_id:anon-1") == survivor and store.owner("device:d1") == survivor
    assert store.user(anon.user.user_id) is None


def test_chain_of_three_merges_folds_into_the_oldest():
    store = MemoryIdentityStore()
    a = _see(store, "m1", time_ms=100, anonymous_ids=["anon-a"])
    b = _see(store, "m2", time_ms=200, emails=["b@x.io"])
    c = _see(store, "m3", time_ms=300, phones=["+14155550132"])
    r = _see(store, "m4", time_ms=400, anonymous_ids=["anon-a"], emails=["b@x.io"], phones=["+14155550132"])
    assert r.user.user_id == a.user.user_id and r.merged == [b.user.user_id, c.user.user_id]
    assert len(store.users) == 1
    assert {store.owner(k) for k in ("anonymous_id:anon-a", "email:b@x.io", "phone:+14155550132")} == {a.user.user_id}


def test_two_customer_ids_never_merge():
    store = MemoryIdentityStore()
    one = _see(store, "m1", customer_id="c1", emails=["shared@x.io"])
    two = _see(store, "m2", customer_id="c2")
    r = _see(store, "m3", customer_id="c2", emails=["shared@x.io"])
    assert r.user.user_id == two.user.user_id and r.merged == []
    assert r.conflicts == ["email:shared@x.io"]
    assert store.owner("email:shared@x.io") == one.user.user_id  # stays with its owner
    assert len(store.users) == 2


def test_message_without_customer_id_matching_two_identified_users_goes_to_the_strongest():
    store = MemoryIdentityStore()
    one = _see(store, "m1", customer_id="c1", emails=["a@x.io"])
    _see(store, "m2", customer_id="c2", phones=["+14155550132"])
    r = _see(store, "m3", emails=["a@x.io"], phones=["+14155550132"])
    assert r.user.user_id == one.user.user_id and r.conflicts == ["phone:+14155550132"] and r.merged == []


def test_device_moves_to_the_new_user():
    store = MemoryIdentityStore()
    first = _see(store, "m1", customer_id="c1", device_id="d1")
    second = _see(store, "m2", customer_id="c2", device_id="d1")
    assert second.device_moved_from == first.user.user_id
    assert store.owner("device:d1") == second.user.user_id
    assert store.user(first.user.user_id).devices == [] and store.user(second.user.user_id).devices == ["d1"]


def test_device_only_message_belongs_to_the_device_owner():
    store = MemoryIdentityStore()
    owner = _see(store, "m1", customer_id="c1", device_id="d1")
    assert _see(store, "m2", device_id="d1").user.user_id == owner.user.user_id


def test_delete_forgets_identifiers_and_devices():
    store = MemoryIdentityStore()
    user = _see(store, "m1", customer_id="c1", emails=["a@x.io"], device_id="d1")
    store.apply(delete(user.user.user_id, store))
    assert store.users == {} and store.index == {}
    again = _see(store, "m2", emails=["a@x.io"])
    assert again.created and again.user.user_id != user.user.user_id


def test_identifier_cap_refuses_over_cap_links():
    store = MemoryIdentityStore()
    _see(store, "m1", customer_id="c1", anonymous_ids=[f"anon-{i}" for i in range(CAP)])
    r = _see(store, "m2", customer_id="c1", anonymous_ids=["anon-new"])
    assert r.capped == ["anonymous_id:anon-new"] and store.owner("anonymous_id:anon-new") is None


def test_one_shared_anonymous_id_cannot_glue_users_past_the_cap():
    store = MemoryIdentityStore()
    big = _see(store, "m1", time_ms=1, anonymous_ids=["shared"] + [f"a{i}" for i in range(3)])
    small = _see(store, "m2", time_ms=2, emails=["x@y.io", "z@y.io"])
    r = _see(store, "m3", time_ms=3, anonymous_ids=["shared"], emails=["x@y.io"])
    assert r.merged == [] and r.capped  # 4 + 2 identifiers would exceed the cap of 5
    assert r.user.user_id == big.user.user_id and store.owner("email:x@y.io") == small.user.user_id
    assert len(store.users) == 2


def test_first_seen_time_per_identifier_survives_merges():
    store = MemoryIdentityStore()
    _see(store, "m1", time_ms=100, anonymous_ids=["anon-1"])
    _see(store, "m2", time_ms=200, customer_id="c1")
    r = _see(store, "m3", time_ms=300, customer_id="c1", anonymous_ids=["anon-1"], emails=["a@x.io"])
    assert r.user.first_seen_ids == {"customer_id:c1": 200, "anonymous_id:anon-1": 100, "email:a@x.io": 300}
