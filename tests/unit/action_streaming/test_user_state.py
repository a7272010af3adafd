"""State folding and idempotent deltas, checked against a one-by-one document model."""

from common.contracts.actions import Action, AttributeOp, Event, Identifiers
from harness.models.mongo import apply_delta
from jobs.action_streaming.device_state import apply_device, device_doc_id
from jobs.action_streaming.identity import MemoryIdentityStore, resolve
from jobs.action_streaming.process import MemoryTenantState, process_action
from jobs.action_streaming.user_state import apply_user, pull_device


def _action(ids, events=(), attributes=(), time_ms=1000, kind="track"):
    return Action(
        "acme",
        "api",
        "m",
        kind,
        time_ms,
        ids,
        events=[Event(n, t, {}) for n, t in events],
        attributes=[AttributeOp(*a) for a in attributes],
    )


def apply_to_doc(doc, delta):
    from dataclasses import asdict

    return apply_delta(doc, {**asdict(delta), "delete": delta.delete})


def _step(store, states, action, merged_states=()):
    r = resolve("acme", action.message_id + str(action.time_ms), action.identifiers, action.time_ms, store, 10)
    store.apply(r)
    state, deltas = apply_user(
        "acme", states.get(r.user.user_id), action, r, [states.pop(u) for u in r.merged if u in states]
    )
    states[state.identity.user_id] = state
    return r, state, deltas


def test_new_user_document_from_first_message():
    store, states = MemoryIdentityStore(), {}
    _, state, [delta] = _step(
        store,
        states,
        _action(
            Identifiers(customer_id="c1", emails=["a@x.io"]),
            events=[("viewed", 1000), ("viewed", 1200)],
            attributes=[("set", "plan", "pro")],
        ),
    )
    doc = apply_to_doc(None, delta)
    assert doc == {
        "tenant": "acme",
        "user_id": state.identity.user_id,
        "customer_id": "c1",
        "first_seen": 1000,
        "last_seen": 1200,
        "emails": ["a@x.io"],
        "attributes": {"plan": "pro"},
        "counters": {"viewed": 2},
        "version": 1,
    }


def test_only_what_changed_is_emitted_and_unchanged_messages_emit_nothing():
    store, states = MemoryIdentityStore(), {}
    _step(store, states, _action(Identifiers(customer_id="c1"), attributes=[("set", "plan", "pro")]))
    _, _, deltas = _step(store, states, _action(Identifiers(customer_id="c1"), attributes=[("set", "plan", "pro")]))
    assert deltas == []
    _, _, [delta] = _step(store, states, _action(Identifiers(customer_id="c1"), attributes=[("set", "plan", "free")]))
    assert delta.set == {"attributes.plan": "free", "version": 2} and not delta.unset


def test_late_event_does_not_move_last_seen_back_and_counters_are_set_not_incremented():
    store, states = MemoryIdentityStore(), {}
    _, _, [d1] = _step(store, states, _action(Identifiers(customer_id="c1"), events=[("viewed", 5000)], time_ms=5000))
    _, _, [d2] = _step(store, states, _action(Identifiers(customer_id="c1"), events=[("viewed", 1000)], time_ms=1000))
    assert "last_seen" not in d2.set and d2.set["counters.viewed"] == 2
    assert d2.set["first_seen"] == 1000  # first_seen moves back to the earlier event
    doc = apply_to_doc(apply_to_doc(None, d1), d2)
    assert apply_to_doc(doc, d2) == doc  # applying a delta twice changes nothing
    assert apply_to_doc(doc, d1) == doc  # an older delta after a newer one changes nothing


def test_merge_folds_counters_and_deletes_the_merged_document():
    store, states = MemoryIdentityStore(), {}
    _, anon, _ = _step(
        store,
        states,
        _action(
            Identifiers(anonymous_ids=["a1"]), events=[("viewed", 100)], time_ms=100, attributes=[("set", "ref", "ad")]
        ),
    )
    _step(
        store,
        states,
        _action(
            Identifiers(customer_id="c1"), events=[("viewed", 200)], time_ms=200, attributes=[("set", "ref", "organic")]
        ),
    )
    r, survivor, deltas = _step(
        store, states, _action(Identifiers(customer_id="c1", anonymous_ids=["a1"]), time_ms=300)
    )
    assert r.merged == [anon.identity.user_id]
    assert survivor.counters == {"viewed": 2} and survivor.attributes == {"ref": "organic"}
    assert survivor.identity.first_seen_ms == 100
    assert [d.delete for d in deltas] == [False, True] and deltas[1].doc_id == f"acme:{anon.identity.user_id}"
    assert deltas[0].add_to_set == {"anonymous_ids": ["a1"]}


def test_attribute_sets_compose():
    store, states = MemoryIdentityStore(), {}
    _step(
        store,
        states,
        _action(Identifiers(customer_id="c1"), attributes=[("add_to_set", "tags", "a"), ("add_to_set", "tags", "b")]),
    )
    _, state, [d] = _step(
        store,
        states,
        _action(Identifiers(customer_id="c1"), attributes=[("pull", "tags", "a"), ("unset", "gone", None)]),
    )
    assert state.attributes == {"tags": ["b"]} and d.set["attributes.tags"] == ["b"] and d.unset == []


def test_device_moving_pulls_it_from_the_old_owner():
    store, states = MemoryIdentityStore(), {}
    r1, old_owner, _ = _step(store, states, _action(Identifiers(customer_id="c1", device_id="d1")))
    r2, new_owner, [d] = _step(store, states, _action(Identifiers(customer_id="c2", device_id="d1")))
    assert r2.device_moved_from == old_owner.identity.user_id and d.add_to_set == {"devices": ["d1"]}
    moved, pull = pull_device("acme", states[old_owner.identity.user_id], "d1")
    assert moved.identity.devices == [] and pull.pull == {"devices": ["d1"]} and pull.version == moved.version


def test_device_document():
    dev, delta = apply_device("acme", None, "d1", "u1", 1000, {"platform": "ios", "push_token": "t1"})
    assert delta.set == {
        "owner": "u1",
        "platform": "ios",
        "push_token": "t1",
        "last_seen": 1000,
        "tenant": "acme",
        "device_id": "d1",
        "version": 1,
    }
    same, none = apply_device("acme", dev, "d1", "u1", 900, {"platform": "ios"})
    assert none is None and same.last_seen_ms == 1000
    _, moved = apply_device("acme", dev, "d1", "u2", 2000, {})
    # every delta carries the whole document (small), so any one of them rebuilds it
    assert moved.set == {**delta.set, "owner": "u2", "last_seen": 2000, "version": 2}
    # the document's id hides the device id: the tombstone a delete leaves must not hold it
    assert delta.doc_id == moved.doc_id == device_doc_id("acme", "d1") and "d1" not in delta.doc_id


def test_a_deleted_user_takes_its_devices_and_leaves_no_identifier_in_state():
    state = MemoryTenantState()
    ids = Identifiers(customer_id="c1", emails=["a@x.io"], anonymous_ids=["an1"], device_id="d1")
    process_action(state, Action("acme", "api", "m1", "identify", 1000, ids), 50)
    other = Identifiers(customer_id="c2", device_id="d2")
    process_action(state, Action("acme", "api", "m2", "identify", 1000, other), 50)
    out = process_action(state, Action("acme", "api", "m3", "delete_user", 2000, Identifiers(customer_id="c1")), 50)
    assert sorted((d.collection, d.delete) for d in out.deltas) == [("devices", True), ("users", True)]
    assert repr((state.index, state.users, state.devices)).count("c1") == 0
    assert not any(x in repr((state.index, state.users, state.devices)) for x in ("a@x.io", "an1", "d1"))
    assert set(state.devices) == {"d2"}


def test_attribute_writes_converge_whatever_the_arrival_order():
    def run(order):
        store, states = MemoryIdentityStore(), {}
        msgs = {
            "early": _action(Identifiers(customer_id="c1"), attributes=[("set", "plan", "free")], time_ms=100),
            "late": _action(Identifiers(customer_id="c1"), attributes=[("set", "plan", "pro")], time_ms=200),
            "unset": _action(Identifiers(customer_id="c1"), attributes=[("unset", "nick", None)], time_ms=300),
            "old_nick": _action(Identifiers(customer_id="c1"), attributes=[("set", "nick", "x")], time_ms=250),
        }
        for name in order:
            _, state, _ = _step(store, states, msgs[name])
        return state.attributes

    assert run(["early", "late", "old_nick", "unset"]) == run(["unset", "late", "old_nick", "early"]) == {"plan": "pro"}
