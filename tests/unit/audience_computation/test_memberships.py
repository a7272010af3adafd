"""The rules of audience-computation (jobs/audience_computation/memberships.py): what a user's events,
ids, merges and definition changes send, and that an exit by time is one message whoever reaches it."""

import json

from common.contracts.audiences import parse_audience
from common.contracts.compute import Trigger
from jobs.audience_computation import memberships
from jobs.audience_computation.conditions import DAY_MS
from jobs.audience_computation.definitions import BucketDefinitions, TenantAudiences, digest, parse_tenant
from jobs.audience_computation.memberships import User, message_id

T0 = 1_700_000_000_000
BUYERS = {"event": "purchased", "at_least": 2, "days": 7}
PRO = {"attribute": "plan", "equals": "pro"}


def audiences(**conditions) -> TenantAudiences:
    return TenantAudiences.of({k: parse_audience("acme", k, json.dumps(v)) for k, v in conditions.items()})


def summary(changes):
    return [(c.audience_id, c.entered, c.trigger.value, c.event_time_ms) for c in changes]


def test_entering_on_events_and_leaving_when_the_window_passes():
    aud = audiences(buyers=BUYERS)
    user = User()
    assert memberships.on_event(user, aud, "purchased", T0, {}) == []
    entered = memberships.on_event(user, aud, "purchased", T0 + DAY_MS, {})
    assert summary(entered) == [("buyers", True, "value_changed", T0 + DAY_MS)]
    assert memberships.next_due(user, aud) == T0 + 7 * DAY_MS  # the first purchase ages out
    # the job's clock before the change point: nothing; past it: the exit, at the change point itself
    assert memberships.on_timer(user, aud, T0 + 6 * DAY_MS) == []
    exited = memberships.on_timer(user, aud, T0 + 30 * DAY_MS)
    assert summary(exited) == [("buyers", False, "value_changed", T0 + 7 * DAY_MS)]
    assert user.now_ms == T0 + 7 * DAY_MS


def test_an_exit_by_time_is_the_same_message_whether_the_clock_or_the_next_event_gets_there():
    aud = audiences(buyers=BUYERS)
    by_timer, by_event = User(), User()
    for user in (by_timer, by_event):
        memberships.on_event(user, aud, "purchased", T0, {})
        memberships.on_event(user, aud, "purchased", T0 + DAY_MS, {})
    timer_exit = memberships.on_timer(by_timer, aud, T0 + 10 * DAY_MS)
    event_exit = memberships.on_event(by_event, aud, "app_opened", T0 + 10 * DAY_MS, {})
    assert timer_exit == event_exit
    assert message_id("acme", "u1", timer_exit[0]) == message_id("acme", "u1", event_exit[0])


def test_no_event_in_days_enters_when_the_last_one_ages_out():
    aud = audiences(lapsed={"event": "app_opened", "none_in_days": 3})
    user = User()
    assert summary(memberships.on_event(user, aud, "signed_up", T0, {})) == [("lapsed", True, "value_changed", T0)]
    assert summary(memberships.on_event(user, aud, "app_opened", T0 + 1, {})) == [
        ("lapsed", False, "value_changed", T0 + 1)
    ]
    assert summary(memberships.on_timer(user, aud, T0 + 5 * DAY_MS)) == [
        ("lapsed", True, "value_changed", T0 + 1 + 3 * DAY_MS)
    ]


def test_attributes_come_from_each_events_snapshot_and_only_the_audiences_reading_them_are_judged():
    aud = audiences(pro=PRO, buyers=BUYERS)
    user = User()
    assert summary(memberships.on_event(user, aud, "x", T0, {"plan": "pro"})) == [("pro", True, "value_changed", T0)]
    assert memberships.on_event(user, aud, "x", T0 + 1, {"plan": "pro", "city": "Oslo"}) == []
    assert summary(memberships.on_event(user, aud, "x", T0 + 2, {"plan": "free"})) == [
        ("pro", False, "value_changed", T0 + 2)
    ]


def test_a_late_event_counts_from_the_users_clock_and_one_outside_every_window_is_not_kept():
    aud = audiences(buyers=BUYERS)
    user = User()
    memberships.on_event(user, aud, "purchased", T0 + 10 * DAY_MS, {})
    late = memberships.on_event(user, aud, "purchased", T0 + 9 * DAY_MS, {})
    assert summary(late) == [("buyers", True, "value_changed", T0 + 10 * DAY_MS)]
    memberships.on_event(user, aud, "purchased", T0, {})  # 10 days before the clock: outside the window
    assert user.inside == {"buyers"}
    memberships.on_event(user, aud, "purchased", T0 + 10 * DAY_MS - 40 * DAY_MS, {})  # older than anything kept
    assert user.events["purchased"] == [T0, T0 + 9 * DAY_MS, T0 + 10 * DAY_MS]


def test_state_keeps_only_the_newest_times_a_condition_needs():
    aud = audiences(buyers=BUYERS, other={"event": "purchased", "none_in_days": 30})
    user = User()
    for hour in range(40):
        memberships.on_event(user, aud, "purchased", T0 + hour * 3600_000, {})
    assert len(user.events["purchased"]) == memberships.KEEP_COUNT  # more than a condition needs: for new ones
    memberships.on_event(user, aud, "viewed", T0 + 40 * 3600_000, {})
    assert user.events["viewed"] == [T0 + 40 * 3600_000]  # no audience counts it yet; one put later may
    memberships.on_event(user, aud, "viewed", T0 + 40 * 3600_000 + 31 * DAY_MS, {})
    assert user.events["viewed"] == [T0 + 40 * 3600_000 + 31 * DAY_MS]  # older than KEEP_DAYS: gone


def test_new_external_ids_message_each_audience_the_user_is_in():
    aud = audiences(pro=PRO, buyers=BUYERS)
    user = User()
    assert memberships.on_identity(user, [("email", "a@x.io", 5)]) == []  # in no audience yet
    memberships.on_event(user, aud, "x", T0, {"plan": "pro"})
    changes = memberships.on_identity(user, [("email", "a@x.io", 5), ("phone", "+4712345678", 9)])
    assert [(c.audience_id, c.trigger, c.external_id) for c in changes] == [
        ("pro", Trigger.NEW_EXTERNAL_ID, ("phone", "+4712345678", 9))
    ]
    assert memberships.on_identity(user, [("email", "a@x.io", 5), ("phone", "+4712345678", 9)]) == []


def test_a_merge_judges_the_survivor_on_both_histories_and_names_both_profiles():
    aud = audiences(buyers=BUYERS, pro=PRO, lapsed={"event": "app_opened", "none_in_days": 3})
    loser, survivor = User(), User()
    memberships.on_event(loser, aud, "purchased", T0, {"plan": "pro"})
    memberships.on_event(survivor, aud, "purchased", T0 + 1000, {"tier": "gold"})
    memberships.on_event(survivor, aud, "app_opened", T0 + 1000, {"tier": "gold"})
    assert loser.inside == {"pro", "lapsed"} and survivor.inside == set()
    handover = memberships.hand_over(loser, "u-loser", "u-survivor")
    assert loser.merged_into == "u-survivor" and not loser.inside
    changes = memberships.on_merge(survivor, "u-survivor", aud, handover)
    assert [(c.audience_id, c.entered, c.trigger, c.merged) for c in changes] == [
        ("buyers", True, Trigger.PROFILE_MERGE, ("u-survivor", "u-loser")),  # two purchases now
        ("lapsed", False, Trigger.PROFILE_MERGE, ("u-survivor", "u-loser")),  # the loser was in it
        ("pro", True, Trigger.PROFILE_MERGE, ("u-survivor", "u-loser")),  # its attribute came along
    ]
    assert survivor.inside == {"buyers", "pro"}
    assert survivor.attributes == {"plan": "pro", "tier": "gold"}


def test_a_changed_or_deleted_definition_judges_users_at_their_clock():
    user = User()
    before = audiences(buyers=BUYERS)
    memberships.on_event(user, before, "purchased", T0, {})
    memberships.on_event(user, before, "purchased", T0 + 1, {})
    assert user.inside == {"buyers"}
    stricter = audiences(buyers={"event": "purchased", "at_least": 3, "days": 7})
    assert summary(memberships.on_definitions(user, stricter, ["buyers"])) == [
        ("buyers", False, "value_changed", T0 + 1)
    ]
    looser = audiences(buyers={"event": "purchased", "at_least": 1, "days": 7})
    assert summary(memberships.on_definitions(user, looser, ["buyers"])) == [("buyers", True, "value_changed", T0 + 1)]
    assert summary(memberships.on_definitions(user, audiences(), ["buyers"])) == [
        ("buyers", False, "value_changed", T0 + 1)
    ]


def test_a_definition_put_later_judges_users_on_the_events_they_had():
    user = User()
    for n in range(3):
        memberships.on_event(user, audiences(), "purchased", T0 + n, {"plan": "pro"})
    later = audiences(buyers=BUYERS, pro=PRO)
    assert summary(memberships.on_definitions(user, later, ["buyers", "pro"])) == [
        ("buyers", True, "value_changed", T0 + 2),
        ("pro", True, "value_changed", T0 + 2),
    ]


def test_message_ids_tell_each_change_of_a_membership_apart():
    aud = audiences(pro=PRO)
    user = User()
    changes = []
    for i, plan in enumerate(["pro", "free", "pro"]):
        changes += memberships.on_event(user, aud, "x", T0 + i, {"plan": plan})
    ids = [message_id("acme", "u1", c) for c in changes]
    assert len(set(ids)) == 3
    again = User()
    replayed = [
        c
        for i, plan in enumerate(["pro", "free", "pro"])
        for c in memberships.on_event(again, aud, "x", T0 + i, {"plan": plan})
    ]
    assert [message_id("acme", "u1", c) for c in replayed] == ids


def test_a_deleted_user_leaves_every_audience():
    aud = audiences(pro=PRO)
    user = User()
    memberships.on_event(user, aud, "x", T0, {"plan": "pro"})
    memberships.on_identity(user, [("email", "a@x.io", 5)])
    assert summary(memberships.on_delete(user)) == [("pro", False, "value_changed", T0)]
    assert user.deleted and user.attributes == {} and user.events == {} and user.ids == frozenset()


def test_a_fresh_bucket_starts_from_the_submit_time_snapshot_and_skips_older_records_of_its_keys():
    old = {"tenant": "acme", "audience_id": "pro", "condition_json": json.dumps({"attribute": "plan", "equals": "x"})}
    new = {"tenant": "acme", "audience_id": "pro", "condition_json": json.dumps(PRO)}
    definitions = BucketDefinitions.from_snapshot([(new, "d-new")])
    assert definitions.conditions == {"acme": {"pro": json.dumps(PRO)}}
    assert not definitions.on_record(old, "d-old")  # older than the snapshot: skipped
    assert not definitions.on_record(new, "d-new")  # the snapshot's own record: nothing changes
    assert definitions.on_record(old, "d-old")  # written after: applies
    assert definitions.on_record({**old, "deleted": True}, "d-del")
    assert definitions.conditions == {"acme": {}}
    assert digest(b"x") == digest(b"x")


def test_a_definition_that_does_not_parse_counts_as_absent():
    parsed, refused = parse_tenant("acme", {"ok": json.dumps(PRO), "bad": '{"attribute": "plan"}'})
    assert list(parsed.audiences) == ["ok"] and "bad" in refused


def test_the_survivor_takes_each_handover_once_even_when_a_replay_writes_them_again():
    aud = audiences(buyers=BUYERS)
    loser, survivor = User(), User()
    memberships.on_event(loser, aud, "purchased", T0, {})
    handovers = [memberships.hand_over(loser, "u-l", "u-s")]
    handovers += [memberships.hand_on(loser, "u-l", "purchased", T0 + n) for n in (1, 2)]
    assert [h.sequence for h in handovers] == [1, 2, 3] and handovers[0].merge and not handovers[1].merge
    assert [memberships.take(survivor, h) for h in handovers + handovers] == [True] * 3 + [False] * 3
