"""audience-computation's operator on the fake runtime (harness/flink_fake.py), at 4 buckets: users'
events in batches per bucket in a random schedule, a definition changed half way (its copies reach each
bucket at that point), and the job's clock pushed past every change point at the end. What it sends must
be exactly what the brute-force reference model (harness/models/audiences.py) sends, message for
message, with the same ids on a second run; a merge across buckets goes through a handover."""

import json
import random
from collections import defaultdict

from common.contracts.audiences import audience_record
from common.flink.buckets import MARK, bucket_of
from common.serde import frames
from common.serde.avro import AvroCodec
from harness.audiences import T0, bucket_clocks, enriched_value, ticks, workload
from harness.flink_fake import OperatorDriver
from harness.models.audiences import AudienceModel
from jobs.audience_computation.conditions import DAY_MS
from jobs.audience_computation.definitions import digest
from jobs.audience_computation.operators import AudienceMemberships
from jobs.audience_computation.records import HANDOVER_OUT, MESSAGE_OUT
from jobs.audience_computation.settings import AudienceSettings

BUCKETS = 4
LATENESS = DAY_MS
CODEC = AvroCodec()
FIRST = {
    "buyers": {"event": "purchased", "at_least": 2, "days": 3},
    "lapsed": {"event": "app_opened", "none_in_days": 2},
    "pro": {"all": [{"attribute": "plan", "equals": "pro"}, {"not": {"attribute": "blocked", "exists": True}}]},
}
CHANGED = {**FIRST, "buyers": {"event": "purchased", "at_least": 1, "days": 1}, "rich": {"attribute": "ltv", "min": 50}}


def definition(audience_id: str, condition: dict | None) -> bytes:
    record = audience_record("acme", audience_id, json.dumps(condition or {}), deleted=condition is None)
    return CODEC.encode("audience_definition", record)


def enriched(user: str, name: str, time_ms: int, attributes: dict) -> bytes:
    return enriched_value(CODEC, "acme", (user, name, time_ms, attributes))


class Job:
    def __init__(self):
        options = AudienceSettings(buckets=BUCKETS, lateness_ms=LATENESS, batch_records=64)
        snapshot = [(CODEC.decode(raw), digest(raw)) for raw in (definition(k, v) for k, v in sorted(FIRST.items()))]
        self.driver = OperatorDriver(AudienceMemberships(options, snapshot, partitions=1))
        self.pending: dict[int, list[bytes]] = defaultdict(list)
        self.sent: list[dict] = []
        self.define(FIRST)  # the snapshot's records come on the stream too (the topic holds them)

    def route(self, user: str, raw: bytes) -> None:
        self.pending[bucket_of("acme", user, BUCKETS)].append(raw)

    def flush(self, rng: random.Random | None = None) -> None:
        buckets = sorted(self.pending)
        if rng:
            rng.shuffle(buckets)
        for bucket in buckets:
            self.deliver(bucket, self.pending.pop(bucket))

    def deliver(self, bucket: int, raws: list[bytes]) -> None:
        batch = frames.pack([(0, b"", raw) for raw in raws])
        for frame in self.driver.element(batch, key=f"b{bucket}"):
            self.collect(frame)

    def collect(self, frame) -> None:
        for output, _key, value in frames.unpack(bytes(frame)):
            record = CODEC.decode(value)
            if output == MESSAGE_OUT:
                self.sent.append(record)
            elif output == HANDOVER_OUT:  # back through hw.audiences.handovers
                self.route(record["user_id"], value)

    def define(self, definitions: dict) -> None:
        self.flush()
        for bucket in range(BUCKETS):
            copies = [MARK + bucket.to_bytes(4, "big") + definition(k, v) for k, v in sorted(definitions.items())]
            self.deliver(bucket, copies)

    def tick(self) -> None:
        for frame in self.driver.advance(60_000):
            self.collect(frame)


def run(seed: int) -> tuple[Job, AudienceModel]:
    rng = random.Random(seed)
    job, model = Job(), AudienceModel(FIRST)
    events = workload(rng, users=60, events=1_200)
    half = len(events) // 2
    for n, (user, name, time_ms, attributes) in enumerate(events):
        if n == half:
            # Where the job's clock stands when a definition changes decides the time a user is judged
            # at (its clock may have been moved to a change point by a timer): bring both to the same.
            # (each bucket's clock: per partition the newest event time it read, less the lateness)
            clock = bucket_clocks("acme", events[:n], 1, BUCKETS, LATENESS)
            job.flush()
            job.tick()
            model.clock(clock)
            job.define({**CHANGED, "pro": None})
            # the job applies the records one by one (by key), each followed by the change points its
            # clock has passed
            step = dict(FIRST)
            for audience_id, condition in sorted({**CHANGED, "pro": None}.items()):
                step = {k: v for k, v in {**step, audience_id: condition}.items() if v is not None}
                model.define(step)
                model.clock(clock)
        job.route(user, enriched(user, name, time_ms, attributes))
        model.event(user, name, time_ms, attributes)
        if rng.random() < 0.05:
            job.flush(rng)
            job.tick()
    end = events[-1][2] + 30 * DAY_MS  # one last event per bucket moves its clock past every change point
    for user, name, time_ms, attributes in ticks(end, users=64):
        job.route(user, enriched(user, name, time_ms, attributes))
        model.event(user, name, time_ms, attributes)
    job.flush(rng)
    job.tick()
    model.clock(end - LATENESS)
    return job, model


def test_the_operator_sends_what_the_model_sends_in_any_schedule():
    job, model = run(seed=7)
    got = defaultdict(list)
    for record in job.sent:
        assert record["trigger"] == "value_changed"
        got[record["profile_id"]].append(
            (record["computation_id"], record["value_json"] == '"entered"', record["event_time_ms"])
        )
    assert len(job.sent) > 200
    for user in model.users:
        assert got.get(user, []) == model.messages_of(user), user
    exits_by_time = [r for r in job.sent if r["value_json"] == '"exited"' and r["computation_id"] == "buyers"]
    assert exits_by_time and job.driver.function.totals["timers_fired"] > 0
    again, _ = run(seed=7)
    assert [r["message_id"] for r in again.sent] == [r["message_id"] for r in job.sent]
    assert len({r["message_id"] for r in job.sent}) == len(job.sent)


def test_a_merge_across_buckets_hands_the_history_over():
    job = Job()
    loser, survivor = (
        "u-a",
        next(f"u-{n}" for n in range(100) if bucket_of("acme", f"u-{n}", BUCKETS) != bucket_of("acme", "u-a", BUCKETS)),
    )
    job.route(loser, enriched(loser, "purchased", T0, {"plan": "free"}))
    job.route(survivor, enriched(survivor, "purchased", T0 + 1000, {"plan": "free"}))
    job.flush()
    assert not [r for r in job.sent if r["computation_id"] == "buyers"]
    profile = {"tenant": "acme", "user_id": loser, "external_ids": [], "merged_into": survivor, "deleted": False}
    job.route(loser, CODEC.encode("identity_profile", profile))
    job.flush()  # the loser's bucket hands over
    job.flush()  # the survivor's bucket takes it
    merged = [r for r in job.sent if r["trigger"] == "profile_merge"]
    assert [(r["computation_id"], r["value_json"], r["merged_profile_ids"]) for r in merged] == [
        ("buyers", '"entered"', [survivor, loser]),
        ("lapsed", '"entered"', [survivor, loser]),
    ]
    job.route(loser, enriched(loser, "app_opened", T0 + 2000, {}))  # late for the loser: goes on
    job.flush()
    job.flush()
    assert job.sent[-1]["computation_id"] == "lapsed" and job.sent[-1]["profile_id"] == survivor
    assert job.sent[-1]["value_json"] == '"exited"'
