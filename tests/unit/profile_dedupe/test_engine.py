"""Sequences of messages through the engine (pure, dict stores): duplicates, merges, ID groups,
config changed mid-stream, and the rollout levers."""

import pytest

from common.contracts.profiles import ProfileIds
from common.contracts.rollout import Rollout
from jobs.profile_dedupe.ad_lists import hashed
from jobs.profile_dedupe.deliveries import Delivery
from jobs.profile_dedupe.engine import DedupeEngine, DestinationIndex, DictStore
from jobs.profile_dedupe.groups import id_group_hash
from jobs.profile_dedupe.process import MISMATCH, OUTBOUND, MessageOutcome
from jobs.profile_dedupe.profiles import unpack
from tests.unit.profile_dedupe.scenario import ALL, CUSTOMER, EMAIL_NEW, PHONE, destination, message


class Run:
    def __init__(self, *destinations, rollout=None):
        rollout = rollout or Rollout()
        self.engine = DedupeEngine()
        self.profiles = DictStore()
        self.index = DestinationIndex({d.key: d for d in destinations})
        self.rollout = rollout
        self.outcomes = []

    def profile(self, profile_id, *ids):
        self.engine.on_profile(self.profiles, profile_id, ProfileIds(tuple(sorted(ids))))

    def send(self, msg, kind=OUTBOUND):
        outcome = MessageOutcome()
        out = [r for k, r in self.engine.on_message(self.profiles, msg, self.index, self.rollout, outcome) if k == kind]
        self.outcomes.append(outcome)
        return out


def test_a_duplicate_input_message_is_sent_once():
    run = Run(destination(), destination("d-hook", None, kind="webhook"))
    run.profile("p-1", *ALL)
    first = run.send(message(message_id="m-1"))
    again = run.send(message(message_id="m-1"))
    assert len(first) == 2 and again == []
    assert run.outcomes[1].duplicate


def test_entered_twice_with_new_message_ids_messages_a_dedupe_destination_once():
    run = Run(destination())
    run.profile("p-1", *ALL)
    assert len(run.send(message(message_id="m-1"))) == 1
    assert run.send(message(message_id="m-2")) == []
    assert run.send(message(message_id="m-3", value="exited")) == []
    assert run.send(message(message_id="m-4")) == []  # re-entry: still once and only once
    assert run.outcomes[1].branches == {"value_changed.already_messaged": 1}


def test_merge_of_two_profiles_where_one_was_already_messaged():
    run = Run(destination())
    run.profile("p-1", EMAIL_NEW)
    run.profile("p-2", PHONE)
    assert len(run.send(message(profile="p-1", message_id="m-1"))) == 1
    merged = run.send(message("profile_merge", profile="p-2", merged=("p-1", "p-2"), message_id="m-2"))
    assert merged == []
    assert run.outcomes[1].branches == {"profile_merge.already_in_computation": 1}
    survivor = unpack(run.profiles["p-2"])
    assert survivor.membership("aud-1").messaged == {"d-email"}
    assert {i.pair for i in survivor.ids} == {EMAIL_NEW.pair, PHONE.pair}
    assert unpack(run.profiles["p-1"]).merged_into == "p-2"
    # the survivor gets a new email later: still not messaged a second time
    later = message("new_external_id", profile="p-2", new_id=EMAIL_NEW, message_id="m-3")
    assert run.send(later) == []


def test_merge_of_two_profiles_neither_in_the_computation_sends_once():
    run = Run(destination())
    run.profile("p-1", EMAIL_NEW)
    run.profile("p-2", PHONE)
    out = run.send(message("profile_merge", profile="p-2", merged=("p-1", "p-2")))
    assert [r["external_ids"] for r in out] == [[{"type": "email", "value": EMAIL_NEW.value}]]


def test_destinations_with_and_without_dedupes_on_get_their_own_id_groups():
    run = Run(
        destination("d-email"),
        destination("d-email-2"),
        destination("d-sms", "phone", kind="sms"),
        destination("d-hook", None, kind="webhook"),
        destination("d-ads", None, kind="ads_list"),
    )
    run.profile("p-1", *ALL)
    out = run.send(message())
    groups = {tuple(r["destinations"]): r for r in out}
    # the ad list gets the same ids as the webhook, hashed: another id set, so its own group
    assert set(groups) == {("d-email", "d-email-2"), ("d-sms",), ("d-hook",), ("d-ads",)}
    assert groups[("d-hook",)]["external_ids"] == [{"type": t, "value": v} for t, v in sorted(i.pair for i in ALL)]
    hashed_ids = hashed(Delivery("d-ads", tuple(sorted(i.pair for i in ALL)))).ids
    assert groups[("d-ads",)]["external_ids"] == [{"type": t, "value": v} for t, v in hashed_ids]
    assert groups[("d-email", "d-email-2")]["id_group"] == id_group_hash((EMAIL_NEW.pair,))
    assert len({r["event_id"] for r in out}) == 4
    assert run.outcomes[0].branches == {"value_changed.entered.send_some": 3, "no_dedupes_on.send_all": 2}


def test_event_ids_are_deterministic():
    def once():
        run = Run(destination(), destination("d-hook", None))
        run.profile("p-1", *ALL)
        return [r["event_id"] for r in run.send(message())]

    assert once() == once()


def test_destination_config_changed_mid_stream():
    run = Run(destination())
    run.profile("p-1", *ALL)
    run.profile("p-2", *ALL)
    assert len(run.send(message(profile="p-1", message_id="m-1"))) == 1
    run.index.put(destination("d-sms", "phone", kind="sms"))  # a destination connected mid-stream
    out = run.send(message(profile="p-2", message_id="m-2"))
    assert sorted(tuple(r["destinations"]) for r in out) == [("d-email",), ("d-sms",)]
    run.index.put(destination("d-sms", "phone", kind="sms", enabled=False))
    run.index.delete(destination().key)
    run.profile("p-3", *ALL)
    assert run.send(message(profile="p-3", message_id="m-3")) == []
    assert run.outcomes[-1].branches == {"destination_disabled": 1}
    # the first destination comes back: p-1 was messaged on it already, p-3 was not
    run.index.put(destination())
    assert run.send(message(profile="p-1", message_id="m-4")) == []
    assert len(run.send(message(profile="p-3", message_id="m-5"))) == 1


def test_a_new_id_arriving_later_messages_the_profile_that_had_none():
    run = Run(destination())
    run.profile("p-1", CUSTOMER)
    assert run.send(message(message_id="m-1")) == []
    assert run.outcomes[0].branches == {"value_changed.entered.no_id_of_type": 1}
    out = run.send(message("new_external_id", new_id=EMAIL_NEW, message_id="m-2"))
    assert [r["external_ids"] for r in out] == [[{"type": "email", "value": EMAIL_NEW.value}]]
    assert run.send(message("new_external_id", new_id=EMAIL_NEW, message_id="m-3")) == []


def test_emergency_off_sends_the_legacy_output():
    run = Run(destination(), rollout=Rollout(emergency_off=True))
    run.profile("p-1", *ALL)
    out = run.send(message())
    assert [r["path"] for r in out] == ["legacy"]
    assert len(out[0]["external_ids"]) == 4
    assert run.outcomes[0].branches == {"legacy.send_all": 1}


def test_the_gate_chooses_the_sent_path_per_tenant_tier():
    gate = Rollout(tenant_tiers={"acme": "business"}, gate={"business": "legacy"}, default_path="new")
    run = Run(destination(), rollout=gate)
    run.profile("p-1", *ALL)
    assert [r["path"] for r in run.send(message())] == ["legacy"]
    run = Run(destination(), rollout=Rollout(tenant_tiers={"acme": "free"}, gate={"business": "legacy"}))
    run.profile("p-1", *ALL)
    assert [r["path"] for r in run.send(message())] == ["new"]


def test_the_flag_percentage_splits_profiles_stably():
    from jobs.profile_dedupe.rollout import choose

    half = Rollout(new_path_percent=50)
    chosen = [choose(half, "acme", f"p-{i}").run_new for i in range(2000)]
    assert 900 < sum(chosen) < 1100
    assert chosen == [choose(half, "acme", f"p-{i}").run_new for i in range(2000)]
    assert not any(choose(Rollout(new_path_percent=0), "acme", f"p-{i}").run_new for i in range(200))


def test_the_comparator_finds_no_mismatch_where_both_paths_agree():
    run = Run(destination(), destination("d-hook", None), destination("d-ads", None), rollout=Rollout(comparator=True))
    run.profile("p-1", *ALL)
    assert run.send(message(), kind=MISMATCH) == []
    assert run.outcomes[0].branches["shadow.legacy.send_all"] == 3


def test_the_comparator_reports_a_delivery_only_one_path_made(monkeypatch):
    import jobs.profile_dedupe.process as process
    from jobs.profile_dedupe.decide import Decision

    real = process.decide_new

    def drops_the_webhook(msg, dest, *rest):
        return Decision("bug") if dest.destination_id == "d-hook" else real(msg, dest, *rest)

    monkeypatch.setattr(process, "decide_new", drops_the_webhook)
    run = Run(destination(), destination("d-hook", None), rollout=Rollout(comparator=True))
    run.profile("p-1", *ALL)
    mismatches = run.send(message(), kind=MISMATCH)
    assert [(m["destination_id"], m["surplus"]) for m in mismatches] == [("d-hook", -1)]


@pytest.mark.parametrize("cap", [1, 3, 10_000])
def test_comparator_spills_past_its_cap_with_the_same_result(cap, tmp_path):
    from jobs.profile_dedupe.comparator import ShadowComparator
    from jobs.profile_dedupe.deliveries import Delivery

    comparator = ShadowComparator(tmp_path, cap=cap)
    for i in range(20):
        comparator.add("m", Delivery(f"d-{i}", (("email", "a"),)), -1)
    for i in range(1, 21):
        comparator.add("m", Delivery(f"d-{i}", (("email", "a"),)), 1)
    found = sorted((m.destination_id, m.surplus) for m in comparator.finish())
    assert found == [("d-0", -1), ("d-20", 1)]
    assert comparator.peak_keys <= cap
    assert list(tmp_path.iterdir()) == []  # the spill database is gone after the message


def test_a_copy_is_a_duplicate_within_the_window_by_event_time():
    from jobs.profile_dedupe.profiles import remember

    seen = {}
    for i in range(5):
        seen = remember(seen, f"m-{i}", 1_000 * i, window_ms=2_500, max_ids=10)
    assert seen == {"m-2": 2_000, "m-3": 3_000, "m-4": 4_000}  # event time, not wall-clock
    assert remember(seen, "m-5", 4_500, window_ms=10_000, max_ids=2) == {"m-4": 4_000, "m-5": 4_500}


def test_a_late_copy_beyond_the_window_is_handled_again_but_still_not_a_second_engagement():
    run = Run(destination())
    run.engine.duplicate_window_ms = 1_000
    run.profile("p-1", *ALL)
    assert len(run.send(message(message_id="m-1", event_time=10_000))) == 1
    run.send(message(message_id="m-2", value="exited", event_time=20_000))
    assert run.send(message(message_id="m-1", event_time=10_000)) == []  # forgotten, yet already messaged
    assert not run.outcomes[-1].duplicate
