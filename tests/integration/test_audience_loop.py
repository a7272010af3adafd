"""The loop closed on the real stack: SDK batches through api-unification -> action-streaming ->
audience-computation -> profile-dedupe, checked against the reference model down to the outbound events.

60 customers send 600 batches over 20 days of event time (one event and the user's plan each), and an
anonymous visitor buys twice, then logs in as a customer who has bought too (a merge). Two audiences
(two purchases in two days; the pro plan) feed two destinations (an email one that dedupes on email, a
webhook without dedupes_on). Last, 400 "tick" users move every bucket's clock past every change point.

- Every customer's enter/exit messages on hw.compute.output are the model's (harness/models/audiences.py),
  in order, at the same event times; some exits happened by time alone.
- The merged visitor's survivor is judged on both histories: a profile_merge message names both.
- hw.delivery.outbound holds exactly what profile-dedupe's rules give for those messages (the pure engine,
  harness/dedupe.expected_outbound), and the email destination got each customer once per audience
  entry at most.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter, defaultdict

import pytest

from cli.audiences import put_audience
from cli.dedupe_config import put_destination
from cli.synthetic import WRITE_KEYS
from common.contracts.compute import message_from_record
from common.contracts.profiles import profile_from_record
from common.kafka.snapshot import messages_to_end
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.audiences import DAY_MS, produce
from harness.dedupe import Scenario, expected_outbound
from harness.jobs import RunningJob
from harness.models.audiences import AudienceModel
from jobs.audience_computation.report import combined, parse_reports

pytestmark = pytest.mark.integration

TENANT = "acme"
AUDIENCES = {
    "buyers": {"event": "purchased", "at_least": 2, "days": 2},
    "pro": {"attribute": "plan", "equals": "pro"},
}
# A burst of input reaches hw.events.enriched a little out of event-time order (action-streaming's
# batches); the lateness must cover that: the batches go in waves of 200 (160 hours of event time).
LATENESS_MS = 7 * DAY_MS
WAVE = 200
JOBS = ("api-unification", "action-streaming", "audience-computation", "profile-dedupe")


def _batch(customer: str | None, name: str, time_ms: int, plan: str, n: int, anonymous: str | None = None) -> dict:
    user = {"anonymous_id": anonymous} if anonymous else {}
    if customer:
        user |= {"customer_id": customer, "email": f"{customer}@x.io"}
    return {
        "write_key": WRITE_KEYS[TENANT],
        "tenant": TENANT,
        "message_id": f"loop-{n}",
        "user": user,
        "events": [{"name": name, "time": time_ms}],
        "attributes": {"plan": plan},
    }


def _decoded(settings, suffix: str) -> list[dict]:
    codec = AvroCodec()
    return [
        codec.decode(m.value())
        for m in messages_to_end(settings, [topic(settings.topic_prefix, suffix)])
        if m.value() is not None
    ]


def _key(batch: dict) -> str:
    return batch["user"].get("customer_id") or batch["user"]["anonymous_id"]


def _wait_settled(jobs, settings, events: int, timeout: float = 400, quiet_s: float = 8) -> None:
    """Until audience-computation has read `events`, and its counts and the outbound topic stop moving
    for `quiet_s`."""
    deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
    audience = jobs["audience-computation"]
    while time.monotonic() < deadline:
        assert all(job.alive() for job in jobs.values()), [str(j.log) for j in jobs.values() if not j.alive()]
        now = (
            combined(parse_reports(audience.log.read_text(errors="replace"))),
            len(_decoded(settings, "delivery.outbound")),
        )
        if now != last:
            last, since = now, time.monotonic()
        elif now[0] and now[0]["events"] >= events and time.monotonic() - since > quiet_s:
            return
        time.sleep(1)
    raise AssertionError(f"the pipeline did not settle: {last}")


@pytest.mark.timeout(900)
def test_events_to_outbound_through_audience_computation(isolated_env, tmp_path):
    env, settings = isolated_env
    env = {**env, "HEADWATER_AUDIENCE_LATENESS_MS": str(LATENESS_MS)}
    rng = random.Random(3)
    now = int(time.time() * 1000)
    start = now - 20 * DAY_MS
    batches, model = [], AudienceModel(AUDIENCES)
    for n in range(600):
        customer, at = f"c{rng.randrange(60)}", start + n * 48 * 60_000
        name, plan = rng.choice(["purchased", "purchased", "app_opened"]), rng.choice(["pro", "free"])
        batches.append(_batch(customer, name, at, plan, n))
        model.event(customer, name, at, {"plan": plan})
    # an anonymous visitor buys twice, then logs in as c0 (merged into c0's user)
    login = start + 600 * 48 * 60_000
    waves = [batches[w : w + WAVE] for w in range(0, len(batches), WAVE)]
    waves += [
        [
            _batch(None, "purchased", login - 2000, "free", 1000, anonymous="visitor-1"),
            _batch(None, "purchased", login - 1000, "free", 1001, anonymous="visitor-1"),
        ],
        [_batch("c0", "app_opened", login, "free", 1002, anonymous="visitor-1")],  # after: a merge, not a link
    ]
    ticks = [_batch(f"tick-{k}", "viewed", now, "free", 2000 + k) for k in range(400)]

    for audience_id, condition in AUDIENCES.items():
        put_audience(settings, TENANT, audience_id, json.dumps(condition))
    destinations = [
        put_destination(settings, TENANT, "mail", "email", list(AUDIENCES), "email", True),
        put_destination(settings, TENANT, "hook", "webhook", ["buyers"], None, True),
    ]
    jobs = {name: RunningJob(name, env, tmp_path / f"{name}.log") for name in JOBS}
    try:
        # keyed by the user, as an SDK's batches of one user are: one partition, one order
        produced = 0
        for wave in waves:
            produce(settings, "ingest.sdk", [(_key(b), json.dumps(b).encode()) for b in wave])
            produced += len(wave)
            _wait_settled(jobs, settings, events=produced, quiet_s=2)
        # only then the ticks: read beside the last events, they would make those late
        produce(settings, "ingest.sdk", [(_key(b), json.dumps(b).encode()) for b in ticks])
        _wait_settled(jobs, settings, events=produced + len(ticks))
        messages = _decoded(settings, "compute.output")
        outbound = _decoded(settings, "delivery.outbound")
        profiles = _decoded(settings, "identity.profiles")
    finally:
        for job in jobs.values():
            job.kill()
    assert _decoded(settings, "rejected") == []

    # who is who: action-streaming's user ids by customer id (latest profile record per user)
    latest = {p["user_id"]: p for p in profiles}
    user_of = {
        i["value"]: p["user_id"]
        for p in latest.values()
        if not p["merged_into"]
        for i in p["external_ids"]
        if i["type"] == "customer_id"
    }
    visitor = next(p["user_id"] for p in latest.values() if p["merged_into"])
    assert latest[visitor]["merged_into"] == user_of["c0"]

    for tick in range(400):
        model.event(f"tick-{tick}", "viewed", now, {"plan": "free"})
    model.clock(now - LATENESS_MS)
    got = defaultdict(list)
    for m in messages:
        if m["trigger"] == "value_changed":
            got[m["profile_id"]].append((m["computation_id"], m["value_json"] == '"entered"', m["event_time_ms"]))
    for customer in (f"c{k}" for k in range(1, 60)):
        if customer in model.users:
            assert got.get(user_of[customer], []) == model.messages_of(customer), customer
    exits = [m for m in messages if m["value_json"] == '"exited"' and m["computation_id"] == "buyers"]
    assert len(exits) > 20
    merges = [m for m in messages if m["trigger"] == "profile_merge"]
    assert merges and {tuple(m["merged_profile_ids"]) for m in merges} == {(user_of["c0"], visitor)}
    assert len({m["message_id"] for m in messages}) == len(messages)

    # profile-dedupe: exactly what its rules give for these messages (the merged pair aside)
    pair = {user_of["c0"], visitor}
    scenario = Scenario(
        destinations,
        [(TENANT, user_id, profile_from_record(p)[1]) for user_id, p in latest.items()],
        [message_from_record(m) for m in messages if m["profile_id"] not in pair],
    )
    expected = expected_outbound(scenario)
    sent = [r for r in outbound if r["profile_id"] not in pair]

    def canonical(record: dict) -> tuple:
        return tuple(sorted((k, repr(v)) for k, v in record.items()))

    assert Counter(map(canonical, sent)) == Counter(map(canonical, expected))
    assert len(sent) > 50
