"""profile-dedupe on the real stack: each profile gets each message once and only once.

A scripted scenario of 10,000 computation messages for 1,000 profiles of two tenants (duplicates,
merges, new ids, exits, trait changes; 4 destinations per computation, with and without dedupes_on,
one disabled) goes through the job in two runs: the first is stopped with a savepoint half way, the
second resumes from it at parallelism 2 and gets the rest, including copies of messages the first run
already sent. Merges cross buckets, so their handovers go through hw.dedupe.handovers.
hw.delivery.outbound must then hold exactly the events the rules give (the pure engine over the same
input): nothing twice, nothing missing. The comparator runs too and must find no mismatch.

A second test changes the config while the job runs (a destination added, the emergency switch) and
sends input the job must refuse.
"""

import time
from collections import Counter

import pytest

from cli.dedupe_config import put_destination, set_rollout
from common.contracts.compute import ComputeMessage, Trigger, message_record
from common.contracts.destinations import Destination
from common.contracts.profiles import ExternalId, ProfileIds
from common.contracts.rollout import Rollout
from common.kafka.produce import send
from common.kafka.snapshot import messages_to_end
from common.serde.avro import AvroCodec
from common.topics import topic
from harness import prometheus
from harness.dedupe import (
    expected_outbound,
    generate,
    produce_config,
    produce_messages,
    produce_profiles,
    producer,
)
from harness.jobs import RunningJob
from harness.kafka import Collector
from jobs.profile_dedupe.report import combined, parse_reports

pytestmark = pytest.mark.integration


def _last_report(job: RunningJob) -> dict | None:
    return combined(parse_reports(job.log.read_text(errors="replace")))


def _wait_until_done(job: RunningJob, messages: int, timeout: float = 300) -> dict:
    """Until the job has read `messages` compute messages and none is waiting."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and job.alive():
        report = _last_report(job)
        if report and report["messages"] >= messages and report["waiting"] == 0:
            return report
        time.sleep(1)
    raise AssertionError(f"job did not finish {messages} messages (last: {_last_report(job)}); see {job.log}")


def _decoded(settings, suffix: str, expect: int = 0, timeout: float = 60) -> list[dict]:
    codec = AvroCodec()
    collector = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, suffix))
    try:
        if expect:
            collector.wait_for(expect, timeout)
        collector.catch_up(idle=3)
        return [codec.decode(v) for v in collector.values]
    finally:
        collector.close()


def _canonical(record: dict) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in record.items()))


@pytest.mark.timeout(900)
def test_10k_messages_once_and_only_once_across_a_savepoint(isolated_env, tmp_path):
    env, settings = isolated_env
    scenario = generate(seed=11, messages=10_000, profiles_per_tenant=500, destinations_per_message=4)
    expected = expected_outbound(scenario, Rollout(comparator=True))
    half = len(scenario.messages) // 2
    first, second = scenario.messages[:half], scenario.messages[half:]
    assert sum(1 for m in second if m.message_id in {f.message_id for f in first}) > 100  # copies across the stop

    produce_config(settings, scenario.destinations, Rollout(comparator=True))
    produce_profiles(settings, scenario.profiles)
    produce_messages(settings, first)
    job = RunningJob("profile-dedupe", env, tmp_path / "run-a.log")
    try:
        a = _wait_until_done(job, len(first))
        savepoint = job.stop_with_savepoint()
    finally:
        job.kill()
    produce_messages(settings, second)
    job = RunningJob("profile-dedupe", env, tmp_path / "run-b.log", "--from-savepoint", savepoint, "--parallelism", "2")
    try:
        b = _wait_until_done(job, len(second))
        per_subtask = {r["subtask"]: r["messages"] for r in parse_reports(job.log.read_text(errors="replace"))}
        # read while the job runs: its last outputs become visible when the next checkpoint commits them
        outbound = _decoded(settings, "delivery.outbound", expect=len(expected))
        samples = prometheus.job_samples(settings.metrics_ports, settings.topic_prefix)
    finally:
        job.kill()

    for report, count in ((a, len(first)), (b, len(second))):
        assert report["sent"] + report["dropped"] + report["duplicates"] + report["rejected"] == count, report
        assert report["rejected"] == 0 and report["mismatches"] == 0
    # keyed by profile: the two tenants' messages spread over both subtasks after the rescale
    assert sorted(per_subtask) == [0, 1], per_subtask
    assert all(0.35 <= n / len(second) <= 0.65 for n in per_subtask.values()), per_subtask
    assert a["duplicates"] + b["duplicates"] == len(scenario.messages) - len({m.message_id for m in scenario.messages})

    twice = [e for e, n in Counter(r["event_id"] for r in outbound).items() if n > 1]
    assert not twice, f"{len(twice)} events sent more than once"
    assert Counter(map(_canonical, outbound)) == Counter(map(_canonical, expected))
    assert len(outbound) == len(expected) > 10_000
    # each (profile, computation) was messaged at most once per dedupe destination
    dedupe_ids = {d.destination_id for d in scenario.destinations if d.dedupes_on}
    engagements = Counter(
        (r["tenant"], r["profile_id"], r["computation_id"], d)
        for r in outbound
        for d in r["destinations"]
        if d in dedupe_ids
    )
    assert max(engagements.values()) == 1
    # one destination of each kind per computation; the ads list gets the webhook's ids hashed, so no
    # ID group of two
    assert {len(r["destinations"]) for r in outbound} == {1}
    # an ad list receives hashed identifiers only: no email or phone of any profile, raw, in its events
    ads = {d.destination_id for d in scenario.destinations if d.kind == "ads_list"}
    to_ads = [r for r in outbound if set(r["destinations"]) & ads]
    raw = {i.value for _t, _p, ids in scenario.profiles for i in ids.ids if i.type in ("email", "phone")}
    assert to_ads and raw
    assert all(i["type"].endswith("_sha256") and len(i["value"]) == 64 for r in to_ads for i in r["external_ids"])
    text = repr(to_ads)
    assert not [value for value in raw if value in text]
    assert _decoded(settings, "dedupe.mismatches") == []
    assert _decoded(settings, "rejected") == []

    # Each outbound event carries the Kafka timestamp of the compute message it answers (one of them,
    # for a message sent twice), through the batcher, the waiting room and the savepoint.
    codec, stamps = AvroCodec(), {}
    for record in messages_to_end(settings, [topic(settings.topic_prefix, "compute.output")]):
        stamps.setdefault(codec.decode(record.value())["message_id"], set()).add(record.timestamp()[1])
    events = list(messages_to_end(settings, [topic(settings.topic_prefix, "delivery.outbound")]))
    assert len(events) == len(expected)
    assert all(e.timestamp()[1] in stamps[codec.decode(e.value())["message_id"]] for e in events)
    freshness = {s.name.split("freshness_")[1].removesuffix("_ms"): s.value for s in samples if "freshness_" in s.name}
    assert 0 < freshness["p50"] <= freshness["p99"] <= freshness["max"], freshness


def _message(message_id: str, profile_id: str, trigger=Trigger.VALUE_CHANGED, **extra) -> ComputeMessage:
    return ComputeMessage(
        tenant="acme",
        message_id=message_id,
        computation_id="aud-1",
        computation_kind="audience",
        profile_id=profile_id,
        value_json='"entered"',
        trigger=trigger,
        event_time_ms=1_000,
        **extra,
    )


@pytest.mark.timeout(600)
def test_config_changes_apply_while_running_and_bad_input_is_refused(isolated_env, tmp_path):
    env, settings = isolated_env
    email = ExternalId("email", "ann@acme.example", 1)
    phone = ExternalId("phone", "+15550100", 2)
    produce_config(settings, [Destination("acme", "email-1", "email", ("aud-1",), "email")])
    produce_profiles(settings, [("acme", f"u-{n}", ProfileIds((email, phone))) for n in range(200)])
    codec = AvroCodec()
    bad = message_record(_message("m-bad", "u-0"))
    bad["trigger"] = "moon_phase"
    compute = topic(settings.topic_prefix, "compute.output")
    p = producer(settings)
    send(p, compute, b"\x00 not avro", key=b"acme")
    send(p, compute, codec.encode("compute_message", bad), key=b"acme")
    assert p.flush(30) == 0
    produce_messages(settings, [_message("m-0", "u-0")])
    job = RunningJob("profile-dedupe", env, tmp_path / "run.log")
    try:
        first = _decoded(settings, "delivery.outbound", expect=1, timeout=180)
        assert [(r["destinations"], r["external_ids"], r["path"]) for r in first] == [
            (["email-1"], [{"type": "email", "value": email.value}], "new")
        ]

        put_destination(settings, "acme", "hook-1", "webhook", ["aud-1"], None, True)
        set_rollout(settings, emergency_off=True)
        # the config reaches the job through its broadcast input, in its own time: probe until it shows
        deadline, n, seen = time.monotonic() + 120, 1, []
        while time.monotonic() < deadline:
            produce_messages(settings, [_message(f"m-{n}", f"u-{n}")])
            seen = _decoded(settings, "delivery.outbound", expect=n + 1, timeout=20)[1:]
            if any(r["path"] == "legacy" for r in seen):
                break
            n += 1
        legacy = [r for r in seen if r["path"] == "legacy"]
        assert legacy, f"the emergency switch never took effect: {seen}"
        assert legacy[0]["destinations"] == ["email-1", "hook-1"]  # legacy: one group, all ids, dedupes_on ignored
        assert len(legacy[0]["external_ids"]) == 2
    finally:
        job.kill()
    rejected = _decoded(settings, "rejected", expect=2)
    assert sorted(r["reason"] for r in rejected) == ["INVALID_FIELD", "INVALID_RECORD"]
    assert all(r["job"] == "profile-dedupe" for r in rejected)
    assert any("moon_phase" in r["detail"] for r in rejected)
