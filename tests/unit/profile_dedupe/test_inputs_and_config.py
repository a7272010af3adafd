"""Compute messages as `headwater produce --source compute` checks them, config readiness, the
rollout record, and the progress line."""

import json

import pytest

from cli.produce import ProduceError, compute_records
from common.contracts.compute import Trigger, message_from_json, message_from_record, message_record
from common.contracts.rejections import Reason, Refusal
from common.contracts.rollout import Rollout, RolloutError, rollout_from_record, rollout_record
from common.serde.avro import AvroCodec
from jobs.profile_dedupe.config import ConfigReadiness, config_key, digest, expected_config
from jobs.profile_dedupe.report import FIELDS, LATENCY_FIELDS, combined, format_report, parse_reports

GOOD = {
    "tenant": "acme",
    "message_id": "m-1",
    "computation_id": "aud-1",
    "computation_kind": "audience",
    "profile_id": "u-1",
    "value": "entered",
    "trigger": "value_changed",
    "event_time_ms": 5,
}


def test_a_good_line_round_trips_through_avro():
    message = message_from_json(GOOD)
    codec = AvroCodec()
    assert message_from_record(codec.decode(codec.encode("compute_message", message_record(message)))) == message
    assert message.in_computation and message.trigger is Trigger.VALUE_CHANGED


@pytest.mark.parametrize(
    "change,reason,words",
    [
        ({"trigger": "moon"}, Reason.INVALID_FIELD, "trigger 'moon'"),
        ({"computation_kind": "segment"}, Reason.INVALID_FIELD, "computation_kind"),
        ({"value": "maybe"}, Reason.INVALID_FIELD, "'entered' or 'exited'"),
        ({"event_time_ms": "yesterday"}, Reason.INVALID_FIELD, "epoch milliseconds"),
        ({"trigger": "new_external_id"}, Reason.MISSING_FIELD, "external_id"),
        ({"trigger": "profile_merge"}, Reason.MISSING_FIELD, "merged_profile_ids"),
        ({"profile_id": ""}, Reason.MISSING_FIELD, "profile_id"),
    ],
)
def test_a_bad_line_is_refused_with_what_to_fix(change, reason, words):
    with pytest.raises(Refusal) as refused:
        message_from_json({**GOOD, **change})
    assert refused.value.reason is reason and words in refused.value.detail


def test_produce_names_the_bad_line_and_sends_nothing(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + json.dumps({**GOOD, "trigger": "moon"}) + "\n")
    with pytest.raises(ProduceError, match=r"m.jsonl:3: trigger 'moon'"):
        list(compute_records(path))


def test_config_readiness_waits_for_every_record_of_the_snapshot():
    codec = AvroCodec()
    record = {
        "tenant": "acme",
        "destination_id": "d",
        "kind": "email",
        "computations": ["a"],
        "dedupes_on": "email",
        "enabled": True,
        "deleted": False,
    }
    old = codec.encode("destination", record)
    new = codec.encode("destination", {**record, "enabled": False})
    rollout = codec.encode("dedupe_rollout", rollout_record(Rollout()))
    expected = expected_config([("t", None, old), ("t", None, new), ("t", None, b"junk"), ("r", None, rollout)], codec)
    assert expected == {"destination:acme:d": digest(new), "rollout": digest(rollout)}
    readiness = ConfigReadiness(expected)
    readiness.saw("destination:acme:d", digest(old))  # an older value is not enough
    readiness.saw("rollout", digest(rollout))
    assert not readiness.ready
    readiness.saw("destination:acme:d", digest(new))
    assert readiness.ready
    with pytest.raises(ValueError):
        config_key("compute_message", {})


def test_rollout_levers_are_checked_and_round_trip():
    rollout = Rollout(
        new_path_percent=25, comparator=True, tenant_tiers={"acme": "business"}, gate={"business": "legacy"}
    )
    assert rollout_from_record(rollout_record(rollout)) == rollout
    with pytest.raises(RolloutError):
        Rollout(new_path_percent=101)
    with pytest.raises(RolloutError):
        Rollout(gate={"free": "newest"})


def test_progress_lines_round_trip_and_add_up_per_subtask():
    totals = {f: i for i, f in enumerate(FIELDS)}
    latencies = {f: 100 + i for i, f in enumerate(LATENCY_FIELDS)}
    older = {f: 0 for f in FIELDS}
    text = "\n".join(
        [
            "noise",
            format_report(1, older, latencies),
            format_report(0, totals, latencies),
            format_report(1, totals, latencies),
        ]
    )
    reports = parse_reports(text)
    assert reports[1] == {"subtask": 0, **totals, **latencies}
    assert combined(reports) == {**{f: 2 * v for f, v in totals.items()}, **latencies}
