"""Operating the jobs on the local Flink standalone cluster: submit, stop with a savepoint, rescale.

All four jobs are submitted with `headwater submit` to the cluster of `headwater cluster up` (two
TaskManagers). SDK batches are produced at a fixed rate by `headwater produce --generate`; while that
goes on, action-streaming is stopped with a savepoint and submitted again from it with parallelism 2.
Later profile-dedupe gets the same treatment between two halves of its computation messages.
Afterwards everything equals what the pure rules give for the same input without any interruption:
action-streaming's three topics byte for byte per key, the MongoDB documents reaction-streaming wrote,
and profile-dedupe's outbound events (none twice). The submit, stop-with-savepoint and restore times
are printed (`pytest -s`) and recorded in docs/operations.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter, defaultdict

import pytest
from pymongo import MongoClient

from common import config
from common.flink.cluster import FlinkCluster
from common.serde.avro import AvroCodec
from common.topics import topic
from infra.harness.action_model import count, expected_outputs
from infra.harness.dedupe import Scenario, expected_outbound, produce_config, produce_messages, tenant_destinations
from infra.harness.jobs import SubmittedJob
from infra.harness.kafka import Collector
from infra.harness.mongo_model import fold
from infra.stack import flink_cluster
from jobs.action_streaming.job import OUTPUTS as ACTION_OUTPUTS
from jobs.action_streaming.records import action_from_record
from jobs.profile_dedupe.model import ComputeMessage, Trigger, profile_from_record

pytestmark = pytest.mark.integration

JOBS = ("api-unification", "action-streaming", "reaction-streaming", "profile-dedupe")
SDK_BATCHES, RATE = 3_000, 150  # 20 s of producing, with action-streaming stopped and restored in the middle
TOPICS = ("unified.actions", *ACTION_OUTPUTS, "delivery.outbound", "rejected")


def _headwater(env: dict, log, *args: str) -> subprocess.Popen:
    out = open(log, "ab")
    return subprocess.Popen([sys.executable, "-m", "cli.main", *args], env={**os.environ, **env}, stdout=out,
                            stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def local_cluster(stack, tmp_path_factory):
    """The local cluster with two TaskManagers; started (and stopped) here unless one already runs."""
    settings = config.load()
    running = any(pid for _, pid, _ in flink_cluster.processes(settings))
    if not running:
        log = tmp_path_factory.mktemp("cluster") / "cluster-up.log"
        started = time.monotonic()
        assert _headwater({}, log, "cluster", "up", "--taskmanagers", "2", "--slots", "4").wait(180) == 0, log.read_text()
        print(f"cluster up in {time.monotonic() - started:.1f} s")
    yield settings.flink_rest
    if not running:
        subprocess.run([sys.executable, "-m", "cli.main", "cluster", "down"], check=True, timeout=120)


def _messages(profiles: list[tuple[str, str, object]]) -> list[ComputeMessage]:
    """Every live profile enters aud-1, then every third one enters aud-2."""
    out = []
    for n, (tenant, profile_id, _ids) in enumerate(profiles):
        for audience in ("aud-1", "aud-2") if n % 3 == 0 else ("aud-1",):
            out.append(ComputeMessage(tenant=tenant, message_id=f"{audience}-{profile_id}", computation_id=audience,
                                      computation_kind="audience", event_time_ms=1_795_000_000_000 + n,
                                      profile_id=profile_id, value_json='"entered"', trigger=Trigger.VALUE_CHANGED))
    return out


def _documents(settings) -> dict:
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=5000) as client:
        db = client[settings.mongo_database]
        return {(collection, doc.pop("_id")): doc for collection in ("users", "devices") for doc in db[collection].find()}


def _canonical(record: dict) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in record.items()))


@pytest.mark.timeout(1200)
def test_four_jobs_on_the_cluster_equal_an_uninterrupted_run_across_a_stop_and_a_rescale(
        isolated_env, local_cluster, tmp_path):
    env, settings = isolated_env
    codec, flink = AvroCodec(), FlinkCluster(local_cluster)
    destinations = [*tenant_destinations("acme"), *tenant_destinations("globex")]
    produce_config(settings, destinations)
    topics = {name: Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, name)) for name in TOPICS}
    times: dict[str, float] = {}
    jobs: dict[str, SubmittedJob] = {}
    try:
        for name in JOBS:
            jobs[name] = SubmittedJob(name, env, tmp_path / f"{name}.log")
            times[f"submit {name}"] = jobs[name].submit_s

        # --- action-streaming: stop with a savepoint while SDK batches keep coming, resume at parallelism 2
        producing = _headwater(env, tmp_path / "produce.log", "produce", "--source", "sdk", "--generate",
                               str(SDK_BATCHES), "--seed", "21", "--users", "400", "--rate", str(RATE))
        events = topics["events.enriched"]
        assert events.wait_for(1, timeout=120, alive=jobs["action-streaming"].alive), "no enriched event yet"
        started = time.monotonic()
        savepoint = jobs["action-streaming"].stop_with_savepoint()
        times["stop action-streaming with a savepoint"] = time.monotonic() - started
        assert producing.poll() is None, "the producer finished before the stop: nothing was mid-stream"
        before_restore = len(events.values)
        jobs["action-streaming"] = SubmittedJob("action-streaming", env, tmp_path / "action-streaming-p2.log",
                                                "--parallelism", "2", "--from-savepoint", savepoint)
        times["restore action-streaming (submit until running)"] = jobs["action-streaming"].submit_s
        assert flink.parallelism(jobs["action-streaming"].job_id) == 2
        assert producing.wait(timeout=300) == 0, (tmp_path / "produce.log").read_text()
        started = time.monotonic()
        while len(events.values) == before_restore and time.monotonic() - started < 120:
            events.poll_for(0.2)
        times["restored action-streaming: first new output after running"] = time.monotonic() - started

        actions = topics["unified.actions"]
        assert actions.wait_for(SDK_BATCHES, timeout=300, alive=jobs["api-unification"].alive), \
            f"{len(actions.values)}/{SDK_BATCHES} unified actions"
        want = expected_outputs([[action_from_record(codec.decode(v)) for v in actions.values]])[0]
        assert events.wait_for(count(want, "events.enriched"), timeout=300, alive=jobs["action-streaming"].alive)
        for name in ACTION_OUTPUTS:
            topics[name].catch_up(idle=4)
        got = defaultdict(list)
        for name in ACTION_OUTPUTS:
            for key, value in zip(topics[name].keys, topics[name].values):
                got[(name, key)].append(value)
        assert dict(got) == want, "action-streaming's outputs differ from one uninterrupted run of the rules"

        # --- reaction-streaming: the documents are the fold of exactly those deltas
        expected_docs = fold([codec.decode(v) for (name, _), values in want.items() if name == "state.deltas"
                              for v in values], tombstones=True)
        deadline = time.monotonic() + 300
        while (docs := _documents(settings)) != expected_docs and time.monotonic() < deadline:
            time.sleep(2)
        assert docs == expected_docs, f"{len(docs)} documents in MongoDB, {len(expected_docs)} expected"

        # --- profile-dedupe: half the messages, stop with a savepoint, resume at parallelism 2, the rest
        latest = {key: codec.decode(values[-1]) for (name, key), values in want.items() if name == "identity.profiles"}
        profiles = [(r["tenant"], *profile_from_record(r)) for r in latest.values()
                    if not r["merged_into"] and not r["deleted"]]
        profiles.sort(key=lambda p: (p[0], p[1]))
        assert len(profiles) > 200
        profile_topic = topics["identity.profiles"]
        deadline = time.monotonic() + 120
        while not profile_topic.consumed_by("headwater-profile-dedupe") and time.monotonic() < deadline:
            time.sleep(1)  # every profile reached profile-dedupe (it commits offsets with each checkpoint)
        messages = _messages(profiles)
        half = len(messages) // 2
        scenario = Scenario(destinations, profiles, messages + messages[:100])  # a hundred repeats after the stop
        outbound = topics["delivery.outbound"]
        produce_messages(settings, messages[:half])
        assert outbound.wait_for(len(expected_outbound(scenario, messages=messages[:half])), timeout=180,
                                 alive=jobs["profile-dedupe"].alive)
        started = time.monotonic()
        savepoint = jobs["profile-dedupe"].stop_with_savepoint()
        times["stop profile-dedupe with a savepoint"] = time.monotonic() - started
        jobs["profile-dedupe"] = SubmittedJob("profile-dedupe", env, tmp_path / "profile-dedupe-p2.log",
                                              "--parallelism", "2", "--from-savepoint", savepoint)
        times["restore profile-dedupe (submit until running)"] = jobs["profile-dedupe"].submit_s
        assert flink.parallelism(jobs["profile-dedupe"].job_id) == 2
        produce_messages(settings, scenario.messages[half:])
        expected = expected_outbound(scenario)
        assert outbound.wait_for(len(expected), timeout=180, alive=jobs["profile-dedupe"].alive)
        outbound.catch_up(idle=5)
        sent = [codec.decode(v) for v in outbound.values]
        twice = [e for e, n in Counter(r["event_id"] for r in sent).items() if n > 1]
        assert not twice, f"{len(twice)} outbound events sent more than once"
        assert Counter(map(_canonical, sent)) == Counter(map(_canonical, expected))
        assert [r for r in map(codec.decode, topics["rejected"].values) if r["job"] != "api-unification"] == []
    finally:
        for job in jobs.values():
            job.kill()
        for collector in topics.values():
            collector.close()
    print(f"\n{SDK_BATCHES} SDK batches, {count(want, 'events.enriched')} enriched events, {len(expected_docs)} "
          f"documents, {len(expected)} outbound events for {len(scenario.messages)} messages")
    for what, seconds in times.items():
        print(f"  {what:<60} {seconds:6.1f} s")
