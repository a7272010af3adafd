from common.contracts.actions import Action, Device, Event, Identifiers
from jobs.action_streaming.process import MemoryTenantState, process_action


def _a(mid, ids, kind="track", events=(), device=None, t=1000):
    return Action("acme", "sdk", mid, kind, t, ids, device=device, events=[Event(n, t, {}) for n in events])


def test_message_creates_user_device_events_and_profile():
    state = MemoryTenantState()
    out = process_action(
        state,
        _a("m1", Identifiers(customer_id="c1", device_id="d1"), events=["viewed"], device=Device("d1", platform="ios")),
        50,
    )
    assert [d.collection for d in out.deltas] == ["users", "devices"]
    assert len(out.events) == 1 and out.events[0][0] == out.deltas[0].doc_id.split(":", 1)[1]
    assert out.profiles[0][0].first_seen_ids == {"customer_id:c1": 1000, "device:d1": 1000}


def test_merge_emits_profiles_for_survivor_and_merged_user():
    state = MemoryTenantState()
    process_action(state, _a("m1", Identifiers(anonymous_ids=["a1"])), 50)
    process_action(state, _a("m2", Identifiers(customer_id="c1")), 50)
    out = process_action(state, _a("m3", Identifiers(customer_id="c1", anonymous_ids=["a1"])), 50)
    assert out.merges == 1 and [p[1] is not None for p in out.profiles] == [False, True]
    assert len(state.users) == 1


def test_delete_removes_state_and_emits_a_document_delete():
    state = MemoryTenantState()
    process_action(state, _a("m1", Identifiers(customer_id="c1", emails=["a@x.io"])), 50)
    out = process_action(state, _a("m2", Identifiers(emails=["a@x.io"]), kind="delete_user"), 50)
    assert [d.delete for d in out.deltas] == [True] and out.profiles[0][2] is True
    assert state.users == {} and state.index == {}
    assert process_action(state, _a("m3", Identifiers(customer_id="nobody"), kind="delete_user"), 50).deltas == []


def test_first_seen_is_the_earliest_event_of_a_batch():
    state = MemoryTenantState()
    action = Action(
        "acme",
        "sdk",
        "m1",
        "batch",
        3000,
        Identifiers(customer_id="c1"),
        events=[Event("a", 3000, {}), Event("b", 1000, {}), Event("c", 2000, {})],
    )
    out = process_action(state, action, 50)
    assert out.deltas[0].set["first_seen"] == 1000 and out.deltas[0].set["last_seen"] == 3000
