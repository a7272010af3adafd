"""Merges across buckets (merges.py): the operator, keyed by buckets of (tenant, profile), on a fake
runtime, with records routed as ProfileBuckets.java routes them and handovers fed back late and in
shuffled batches, gives exactly the outbound events of one engine reading every profile in order
(harness/dedupe.expected_outbound), at any schedule."""

from __future__ import annotations

import random
import struct
from collections import defaultdict

import pytest

from common import config
from common.contracts.compute import message_record
from common.contracts.destinations import destination_record
from common.contracts.profiles import ExternalId, ProfileIds
from common.contracts.rollout import Rollout, rollout_record
from common.serde import frames
from common.serde.avro import AvroCodec
from harness.dedupe import expected_outbound, generate, profile_value
from harness.flink_fake import OperatorDriver
from jobs.profile_dedupe.buckets import MARK, bucket_of, unmark
from jobs.profile_dedupe.merges import Roles, losers, roles
from jobs.profile_dedupe.operators import DedupeMessages
from jobs.profile_dedupe.records import HANDOVER_OUT, OUTBOUND_OUT
from jobs.profile_dedupe.settings import DedupeSettings
from tests.unit.profile_dedupe.scenario import T, message

CODEC = AvroCodec()
BUCKETS = 16


def _routed(raw: bytes) -> list[tuple[int, bytes]]:
    """(bucket, value) as ProfileBuckets.java routes a record: a merge to its survivor's bucket, and a
    marked copy to each other bucket of a profile it merges."""
    schema, record = CODEC.writer_of(raw).name, CODEC.decode(raw)
    profile = record["profile_id"] if schema == "compute_message" else record.get("survivor_id", record.get("user_id"))
    own = bucket_of(record["tenant"], profile, BUCKETS)
    out = [(own, raw)]
    if schema == "compute_message" and record["trigger"] == "profile_merge":
        sent = {own}
        for other in record["merged_profile_ids"]:
            b = bucket_of(record["tenant"], other, BUCKETS)
            if b not in sent:
                sent.add(b)
                out.append((b, MARK + struct.pack(">i", b) + raw))
    return out


def test_roles_follow_the_buckets():
    merge = message(trigger="profile_merge", profile="p-1", merged=("p-1", "p-2", "p-3", "p-2"))
    assert losers(merge) == ["p-2", "p-3"]
    own = roles(merge, None, BUCKETS)
    assert own.survivor and sorted(own.local_losers + own.remote_losers) == ["p-2", "p-3"]
    for loser in ("p-2", "p-3"):
        b = bucket_of(T, loser, BUCKETS)
        if b != bucket_of(T, "p-1", BUCKETS):
            assert loser in own.remote_losers
            assert loser in roles(merge, b, BUCKETS).local_losers and not roles(merge, b, BUCKETS).survivor
    assert roles(message(), None, BUCKETS) == Roles(survivor=True)
    assert roles(merge, None, 1) == Roles(True, ("p-2", "p-3"), ())  # one bucket: all read locally


def test_a_marked_copy_is_told_from_a_record_and_a_forged_mark_is_not_trusted():
    raw = CODEC.encode("compute_message", message_record(message()))
    assert unmark(raw, BUCKETS) == (raw, None)
    assert unmark(MARK + struct.pack(">i", 5) + raw, BUCKETS) == (raw, 5)
    assert unmark(MARK + struct.pack(">i", 99) + raw, BUCKETS)[1] is None  # no such bucket


class Pipeline:
    """The operator at BUCKETS buckets on one fake runtime, fed batch by batch in a random schedule;
    hw.dedupe.handovers is a list that becomes visible (a checkpoint) at random moments."""

    def __init__(self, tmp_path, rng: random.Random):
        settings = config.load({"HEADWATER_DATA_DIR": str(tmp_path)})
        options = DedupeSettings(buckets=BUCKETS, profile_wait_ms=60_000, retry_ms=200)
        self.driver = OperatorDriver(DedupeMessages(settings, options, expected={}))
        self.rng = rng
        self.pending: dict[int, list[bytes]] = defaultdict(list)
        self.uncommitted: list[bytes] = []
        self.outbound: list[dict] = []
        self.handovers = 0

    def config(self, scenario, rollout: Rollout) -> None:
        for d in scenario.destinations:
            assert self.driver.broadcast(CODEC.encode("destination", destination_record(d))) == []
        assert self.driver.broadcast(CODEC.encode("dedupe_rollout", rollout_record(rollout))) == []

    def send(self, raw: bytes) -> None:
        for bucket, value in _routed(raw):
            self.pending[bucket].append(value)

    def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.1 and self.uncommitted:  # a checkpoint commits the handovers written so far
            for raw in self.uncommitted:
                self.send(raw)
            self.uncommitted = []
        elif roll < 0.15:
            self._collect(self.driver.advance(200))
        else:
            waiting = [b for b, values in self.pending.items() if values]
            if waiting:
                bucket = self.rng.choice(waiting)
                take = self.rng.randint(1, len(self.pending[bucket]))
                batch, self.pending[bucket] = self.pending[bucket][:take], self.pending[bucket][take:]
                self._collect(self.driver.element(frames.pack([(0, b"", v) for v in batch]), key=f"b{bucket}"))

    def drain(self) -> None:
        for _ in range(100_000):
            if not self.uncommitted and not any(self.pending.values()) and not self.waiting():
                return
            self.step()
        raise AssertionError(f"never drained: {self.waiting()} waiting")

    def waiting(self) -> int:
        return self.driver.runtime.metrics.counters["waiting"].count

    def _collect(self, outputs) -> None:
        for frame in outputs:
            for out, _key, value in frames.unpack(frame):
                if out == OUTBOUND_OUT:
                    self.outbound.append(CODEC.decode(value))
                elif out == HANDOVER_OUT:
                    self.uncommitted.append(value)
                    self.handovers += 1


def _canonical(record: dict) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in record.items()))


@pytest.mark.parametrize("seed", [1, 2])
def test_the_outbound_events_equal_one_engine_reading_every_profile_in_order(tmp_path, seed):
    scenario = generate(seed=seed, messages=1_000, profiles_per_tenant=40, destinations_per_message=4)
    rollout = Rollout(comparator=True)
    pipeline = Pipeline(tmp_path, random.Random(seed))
    pipeline.config(scenario, rollout)
    for tenant, profile_id, ids in scenario.profiles:
        pipeline.send(profile_value(CODEC, tenant, profile_id, ids))
    merges = 0
    for m in scenario.messages:
        pipeline.send(CODEC.encode("compute_message", message_record(m)))
        merges += any(bucket_of(m.tenant, p, BUCKETS) != bucket_of(m.tenant, m.profile_id, BUCKETS) for p in losers(m))
        if pipeline.rng.random() < 0.3:
            pipeline.step()
    pipeline.drain()
    assert merges > 20 and pipeline.handovers >= merges  # merges across buckets happened, each handed over
    expected = expected_outbound(scenario, rollout)
    assert sorted(map(_canonical, pipeline.outbound)) == sorted(map(_canonical, expected))


def test_a_merge_reads_the_loser_as_its_earlier_messages_left_it_and_not_its_later_ones(tmp_path):
    """q's bucket hands q over where the merge falls among q's messages: q enters the computation
    only after the merge, so the merge still messages the survivor (a merged profile that was in the
    computation would stop it), whatever the schedule."""
    survivor = "p-1"
    loser = next(f"q-{n}" for n in range(100) if bucket_of(T, f"q-{n}", BUCKETS) != bucket_of(T, survivor, BUCKETS))
    scenario = generate(seed=0, messages=0, tenants=(T,), profiles_per_tenant=0, destinations_per_message=4)
    ids = ProfileIds((ExternalId("email", "a@x.io", 1),))
    scenario.profiles += [(T, survivor, ids), (T, loser, ids)]
    first, merge, later = (
        message(profile=loser, message_id="m-1", computation="aud-2"),
        message(trigger="profile_merge", profile=survivor, message_id="m-2", merged=(loser,)),
        message(profile=loser, message_id="m-3"),
    )
    scenario.messages += [first, merge, later]
    rollout = Rollout()
    expected = expected_outbound(scenario, rollout)
    assert "m-2" in {e["message_id"] for e in expected}
    assert expected != expected_outbound(scenario, rollout, messages=[first, later, merge])  # the order shows
    for seed in range(5):
        pipeline = Pipeline(tmp_path / str(seed), random.Random(seed))
        pipeline.config(scenario, rollout)
        for tenant, profile_id, profile_ids in scenario.profiles:
            pipeline.send(profile_value(CODEC, tenant, profile_id, profile_ids))
        for m in scenario.messages:
            pipeline.send(CODEC.encode("compute_message", message_record(m)))
        pipeline.drain()
        assert pipeline.handovers == 1
        assert sorted(map(_canonical, pipeline.outbound)) == sorted(map(_canonical, expected))


def test_the_router_knows_every_version_of_the_records_it_keys():
    """ProfileBuckets.java finds the profile id by the writer's header of the current version only: a
    new version's records would all land in the bucket of (tenant, "")."""
    for name in ("compute_message", "identity_profile", "dedupe_handover"):
        versions = CODEC.registry.versions[name]
        assert len(versions) == 1, f"{name} has a new version: teach ProfileBuckets.java its header (and place)"
