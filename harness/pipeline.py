"""The four jobs on the local cluster over one private topic prefix, and the checks that what they
wrote equals the reference models: used by the cluster operations test and by `make chaos`.

- action-streaming's deltas fold to the documents of the reference model run over the messages
  api-unification wrote (harness/models/identity_network.py), and it enriched no event twice;
- the MongoDB documents are those documents (harness/models/mongo.py);
- profile-dedupe's outbound events equal the reference engine's for computation messages sent to
  every live profile once the profiles settled (harness/dedupe.py), none twice;
- every produced ingest record is accounted for: an action, or a whole-message refusal;
- a poison record put on an inter-job topic (`inject_poison`) is refused by the job that reads it, once,
  and changes nothing else.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pymongo import MongoClient

from common.config import Settings
from common.contracts.actions import action_from_record
from common.contracts.compute import ComputeMessage, Trigger
from common.contracts.profiles import profile_from_record
from common.flink.cluster import FlinkCluster
from common.flink.kafka import client_name
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.dedupe import Scenario, expected_outbound, produce_config, produce_messages, tenant_destinations
from harness.jobs import SubmittedJob, headwater
from harness.kafka import Collector
from harness.models.identity_network import TIMING_FIELDS
from harness.models.mongo import is_live
from harness.routed import LiveFolding, caps_for, enriched_ids, home_records, wanted, without_versions
from jobs.action_streaming.job import OUTPUTS as ACTION_OUTPUTS

JOBS = ("api-unification", "action-streaming", "reaction-streaming", "profile-dedupe")
TOPICS = ("unified.actions", *ACTION_OUTPUTS, "delivery.outbound", "rejected")
# The topics a job reads that another job writes, and who reads each.
INTER_JOB = {
    "unified.actions": "action-streaming",
    "state.deltas": "reaction-streaming",
    "identity.profiles": "profile-dedupe",
    "compute.output": "profile-dedupe",
}


@dataclass
class Verified:
    actions: int = 0
    refused: int = 0
    events: int = 0
    documents: int = 0
    messages: int = 0
    outbound: int = 0
    want: dict = field(default_factory=dict, repr=False)


class Pipeline:
    def __init__(self, env: dict[str, str], settings: Settings, cluster: str, log_dir: Path):
        self.env, self.settings, self.log_dir = env, settings, log_dir
        self.flink = FlinkCluster(cluster)
        self.codec = AvroCodec()
        self.destinations = [*tenant_destinations("acme"), *tenant_destinations("globex")]
        produce_config(settings, self.destinations)
        self.topics = {name: Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, name)) for name in TOPICS}
        self.jobs: dict[str, SubmittedJob] = {}
        self.verified = Verified()
        self.poison: dict[bytes, str] = {}  # poison value -> the job that must refuse it

    # --- running ------------------------------------------------------------------------------------
    def submit(self, name: str, *args: str, label: str = "", env: dict[str, str] | None = None) -> SubmittedJob:
        """`headwater submit NAME ARGS` with the pipeline's environment (plus `env`)."""
        self.jobs[name] = SubmittedJob(name, {**self.env, **(env or {})}, self.log_dir / f"{name}{label}.log", *args)
        return self.jobs[name]

    def submit_all(self) -> dict[str, float]:
        return {name: self.submit(name).submit_s for name in JOBS}

    def produce_sdk(self, batches: int, *, seed: int, rate: float, invalid_share: float = 0.0, users: int = 400):
        """`headwater produce --generate` in the background (a Popen)."""
        return headwater(
            self.env,
            self.log_dir / "produce.log",
            "produce",
            "--source",
            "sdk",
            "--generate",
            str(batches),
            "--seed",
            str(seed),
            "--users",
            str(users),
            "--rate",
            str(rate),
            "--invalid-share",
            str(invalid_share),
            "--now",  # live traffic: times from now, so freshness is measured from the real send
        )

    def all_running(self) -> bool:
        """Every submitted job runs all its tasks (one listing of the cluster's jobs)."""
        listed = {info.job_id: info for info in self.flink.jobs()}
        return all(job.job_id in listed and listed[job.job_id].fully_running for job in self.jobs.values())

    def close(self) -> None:
        for job in self.jobs.values():
            try:
                job.kill()
            except Exception:  # noqa: BLE001 - the cluster may be gone; the test reports the real failure
                pass
        for collector in self.topics.values():
            collector.close()

    # --- checking -------------------------------------------------------------------------------------
    def inject_poison(self) -> None:
        """One unreadable record on each inter-job topic: Avro's marker, then a fingerprint nobody has."""
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.settings.kafka_bootstrap})
        for suffix, job in INTER_JOB.items():
            value = b"\xc3\x01" + f"poison for {suffix}".encode()
            self.poison[value] = job
            producer.produce(topic(self.settings.topic_prefix, suffix), value, key=b"poison")
        assert producer.flush(30) == 0

    def _valid(self, values: list[bytes]) -> list[bytes]:
        return [v for v in values if v not in self.poison]

    def check_poison(self, timeout: float = 120) -> None:
        """Each poison record is on hw.rejected once, refused by the job that reads it (INVALID_RECORD or
        INVALID_DELTA, with its bytes); no job refused anything else."""
        rejected = self.topics["rejected"]
        deadline = time.monotonic() + timeout
        while True:
            rejected.poll_for(1)
            later = [r for r in map(self.codec.decode, rejected.values) if r["job"] != "api-unification"]
            if len(later) >= len(self.poison) or time.monotonic() > deadline:
                break
        got = Counter((r["original"], r["job"]) for r in later)
        assert got == Counter(self.poison.items()), f"refusals besides api-unification's: {got}"
        assert {r["reason"] for r in later} <= {"INVALID_RECORD", "INVALID_DELTA"}, later

    def check_ingest(self, produced: int, timeout: float = 600) -> None:
        """Every produced SDK batch is a message on hw.unified.actions (its home record; the links beside
        it are not messages) or a whole-message refusal; then action-streaming's deltas fold to the
        reference model's documents over those messages, and no event is enriched twice.

        Versions are left out: they count contributions in the order each identifier's partition holds
        them, which api-unification's subtasks interleave by timing (harness/routed.wait_for_documents)."""
        records, rejected = self.topics["unified.actions"], self.topics["rejected"]
        deadline = time.monotonic() + timeout
        refused, messages, read, read_rejected = 0, [], 0, 0
        while time.monotonic() < deadline:  # each record decoded once: the cluster shares these cores
            records.poll_for(1)
            rejected.poll_for(0.5)
            refused += sum(1 for v in rejected.values[read_rejected:] if self._whole_refusal_of_api_unification(v))
            messages += map(action_from_record, home_records(self.codec, self._valid(records.values[read:])))
            read, read_rejected = len(records.values), len(rejected.values)
            if len(messages) + refused >= produced:
                break
        assert len(messages) + refused == produced, f"{len(messages)} messages + {refused} refusals for {produced}"
        self.verified.actions, self.verified.refused = len(messages), refused
        want = without_versions(wanted(messages, caps_for(messages))[0])
        deltas, folding, read = self.topics["state.deltas"], LiveFolding(self.codec), 0
        got: dict = {}
        while time.monotonic() < deadline:
            deltas.poll_for(3)
            folding.add(self._valid(deltas.values[read:]))
            read = len(deltas.values)
            got = without_versions(folding.live())
            if got == want:
                break
        differ = [k for k in want if got.get(k) != want[k]] + [k for k in got if k not in want]
        assert got == want, f"{len(differ)} documents differ from the reference model's, first {differ[:1]}"
        events = self.topics["events.enriched"]
        events.catch_up(idle=4)
        enriched = enriched_ids(self.codec, self._valid(events.values))
        twice = [event for event, n in enriched.items() if n > 1]
        assert not twice, f"{len(twice)} events enriched more than once, e.g. {twice[:3]}"
        known = {m.message_id: len(m.events) for m in messages}
        assert all(index < known.get(message_id, 0) for message_id, index in enriched), "an event of no message"
        self.verified.events, self.verified.want = len(enriched), want

    def _whole_refusal_of_api_unification(self, value: bytes) -> bool:
        record = self.codec.decode(value)
        return record["job"] == "api-unification" and record["path"] == ""

    def check_documents(self, timeout: float = 600) -> None:
        """MongoDB's live documents are the reference model's (check_ingest), tombstones left out."""
        expected = self.verified.want
        deadline = time.monotonic() + timeout
        while (docs := self.live_documents()) != expected and time.monotonic() < deadline:
            time.sleep(2)
        assert docs == expected, f"{len(docs)} documents in MongoDB, {len(expected)} expected"
        self.verified.documents = len(docs)

    def live_documents(self) -> dict:
        """MongoDB's live documents as the reference model has them: no version, no timing fields."""
        dropped = ("version", *TIMING_FIELDS)
        return {
            key: {k: v for k, v in doc.items() if k not in dropped}
            for key, doc in self.documents().items()
            if is_live(doc)
        }

    def documents(self) -> dict:
        with MongoClient(self.settings.mongo_uri, serverSelectionTimeoutMS=5000) as client:
            db = client[self.settings.mongo_database]
            return {(c, d.pop("_id")): d for c in ("users", "devices") for d in db[c].find()}

    def profiles(self) -> list:
        """The live profiles of hw.identity.profiles (each key's last record), sorted."""
        profiles = self.topics["identity.profiles"]
        profiles.catch_up(idle=3)
        latest = {key: value for key, value in zip(profiles.keys, profiles.values) if value not in self.poison}
        found = []
        for value in latest.values():
            if value is None:  # a tombstone: the profile was deleted
                continue
            record = self.codec.decode(value)
            if not record["merged_into"] and not record["deleted"]:
                found.append((record["tenant"], *profile_from_record(record)))
        return sorted(found, key=lambda p: (p[0], p[1]))

    def wait_until_profiles_reached_dedupe(self, timeout: float = 180) -> None:
        """profile-dedupe commits its offsets with each checkpoint: past the last profile, it holds them all."""
        profiles = self.topics["identity.profiles"]
        deadline = time.monotonic() + timeout
        while not profiles.consumed_by(client_name(self.settings, "profile-dedupe")):
            assert time.monotonic() < deadline, "profile-dedupe did not read every identity profile"
            time.sleep(1)

    def compute_scenario(self, repeats: int = 100) -> Scenario:
        """Every live profile enters aud-1, every third also aud-2; the first `repeats` are sent twice."""
        messages = []
        for n, (tenant, profile_id, _ids) in enumerate(self.profiles()):
            for audience in ("aud-1", "aud-2") if n % 3 == 0 else ("aud-1",):
                messages.append(
                    ComputeMessage(
                        tenant=tenant,
                        message_id=f"{audience}-{profile_id}",
                        computation_id=audience,
                        computation_kind="audience",
                        event_time_ms=1_795_000_000_000 + n,
                        profile_id=profile_id,
                        value_json='"entered"',
                        trigger=Trigger.VALUE_CHANGED,
                    )
                )
        return Scenario(self.destinations, self.profiles(), messages + messages[:repeats])

    def send_messages(self, messages: list[ComputeMessage]) -> None:
        produce_messages(self.settings, messages)

    def wait_for_outbound(self, count_: int, timeout: float = 300) -> None:
        assert self.topics["delivery.outbound"].wait_for(count_, timeout=timeout), (
            f"{len(self.topics['delivery.outbound'].values)}/{count_} outbound events"
        )

    def check_outbound(self, scenario: Scenario, timeout: float = 300) -> None:
        expected = expected_outbound(scenario)
        self.wait_for_outbound(len(expected), timeout)
        outbound = self.topics["delivery.outbound"]
        outbound.catch_up(idle=5)
        sent = [self.codec.decode(v) for v in outbound.values]
        twice = [e for e, n in Counter(r["event_id"] for r in sent).items() if n > 1]
        assert not twice, f"{len(twice)} outbound events sent more than once"
        assert Counter(map(_canonical, sent)) == Counter(map(_canonical, expected)), "outbound differs from the rules"
        later = [self.codec.decode(v) for v in self.topics["rejected"].values]
        others = [r for r in later if r["job"] != "api-unification" and r["original"] not in self.poison]
        assert others == [], "a job other than api-unification refused a record that was no poison"
        self.verified.messages, self.verified.outbound = len(scenario.messages), len(sent)


def _canonical(record: dict) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in record.items()))
