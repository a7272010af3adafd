"""6,000 hostile payloads through the running pipeline: each is refused with a reason code or accepted
correctly, no job restarts because of one, and no tenant's data reaches another tenant's documents.

The payloads (harness/hostile.py, drawn by hypothesis with a fixed derandomized seed) are
malformed, truncated, oversized, wrongly typed or hostile (deep nesting, huge strings, invalid UTF-8,
NaN, duplicate keys, control characters), 1,500 on each ingest topic. api-unification,
action-streaming and reaction-streaming run on the local cluster, where Flink counts restarts.
The pure rules say which payloads are accepted; the topics must agree exactly.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from pymongo import MongoClient

from cli.produce import producer
from common.contracts.routing import LINK
from common.contracts.tenants import load_registry
from common.flink.cluster import FlinkCluster
from common.flink.kafka import client_name
from common.kafka.produce import send
from common.log import get_logger
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.hostile import SOURCES, Payload, foreign_markers, payloads
from harness.jobs import SubmittedJob
from harness.kafka import Collector
from harness.routed import wait_for_messages
from jobs.api_unification.unify import unify

log = get_logger(__name__)

pytestmark = pytest.mark.integration

PER_SOURCE = 1_500
JOBS = ("api-unification", "action-streaming", "reaction-streaming")


def _draw(source: str, count: int, arrival_ms: int) -> list[Payload]:
    drawn: list[Payload] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(payloads(source, arrival_ms))
    def collect(payload):
        drawn.append(payload)

    collect()
    return drawn


@pytest.mark.timeout(1200)
def test_hostile_payloads_are_refused_or_accepted_and_never_cross_tenants(isolated_env, local_cluster, tmp_path):
    env, settings_ = isolated_env
    arrival_ms = int(time.time() * 1000)
    sent = [p for source in SOURCES for p in _draw(source, PER_SOURCE, arrival_ms)]
    assert len(sent) >= 6_000
    registry, codec, flink = load_registry(), AvroCodec(), FlinkCluster(local_cluster)
    outcomes = [unify(p.source, p.raw, arrival_ms, registry) for p in sent]
    accepted = Counter(o.message_id for o in outcomes if o.action is not None)
    refused = Counter((p.raw, r.reason.value) for p, o in zip(sent, outcomes) for r in o.rejections if r.path == "")
    tenant_of_raw = {p.raw: p.tenant for p in sent}
    topics = {
        name: Collector(settings_.kafka_bootstrap, topic(settings_.topic_prefix, name))
        for name in ("unified.actions", "rejected", "state.deltas")
    }
    jobs = {}
    try:
        for name in JOBS:
            jobs[name] = SubmittedJob(name, env, tmp_path / f"{name}.log")
        p = producer(settings_)
        for payload in sent:
            # The Kafka timestamp is the arrival time the rules judge event times by: the one the reference used.
            send(p, topic(settings_.topic_prefix, f"ingest.{payload.source}"), payload.raw, timestamp=arrival_ms)
        assert p.flush(120) == 0

        actions, rejected = topics["unified.actions"], topics["rejected"]
        reached = wait_for_messages(actions, len(accepted), timeout=300, alive=jobs["api-unification"].alive)
        assert len(reached) == len(accepted), (
            f"{len(reached)}/{len(accepted)} accepted payloads reached unified.actions"
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rejected.poll_for(2)
            decoded = [codec.decode(v) for v in rejected.values]
            records = [r for r in decoded if r["job"] == "api-unification"]
            whole = Counter((r["original"], r["reason"]) for r in records if r["path"] == "")
            if whole == refused:
                break
        assert whole == refused, "whole-message refusals differ from the rules"
        # Accepted text can still be refused by the store: PostgreSQL's jsonb under FerretDB takes no \u0000.
        # Such writes must surface as reaction-streaming's WRITE_REFUSED, not vanish or stop the job.
        store_refusals = [r for r in decoded if r["job"] != "api-unification"]
        assert all(r["job"] == "reaction-streaming" and r["reason"] == "WRITE_REFUSED" for r in store_refusals), (
            store_refusals[:3]
        )
        actions.catch_up(idle=4)
        action_records = [codec.decode(v) for v in actions.values]  # messages and their links
        assert Counter(r["message_id"] for r in action_records if r["kind"] != LINK) == accepted
        for r in records:  # a refusal is filed under the payload's own tenant, or none
            if not r["original_omitted"]:  # (the others are parts of a message whose first refusal has it)
                assert r["tenant"] in (None, tenant_of_raw[r["original"]]), r
        for r in action_records:
            assert not foreign_markers(r, r["tenant"]), r

        deltas = topics["state.deltas"]
        deadline = time.monotonic() + 300  # reaction-streaming has written every delta action-streaming made
        while time.monotonic() < deadline:
            deltas.poll_for(2)
            if deltas.values and deltas.consumed_by(client_name(settings_, "reaction-streaming")):
                break
        assert deltas.consumed_by(client_name(settings_, "reaction-streaming"))
        with MongoClient(settings_.mongo_uri, serverSelectionTimeoutMS=5000) as client:
            db = client[settings_.mongo_database]
            documents = [d for c in ("users", "devices") for d in db[c].find()]
        assert documents
        leaks = [d["_id"] for d in documents if foreign_markers(d, str(d["_id"]).split(":", 1)[0])]
        assert not leaks, f"documents holding another tenant's data: {leaks[:5]}"
        restarts = {name: (flink.restarts(job.job_id), flink.failures(job.job_id)) for name, job in jobs.items()}
        assert restarts == dict.fromkeys(JOBS, (0, 0)), f"(restarts, failures) per job: {restarts}"
    finally:
        for job in jobs.values():
            job.kill()
        for collector in topics.values():
            collector.close()
    mutations = Counter(p.mutation for p in sent)
    reasons = Counter(r["reason"] for r in records)
    log.info(
        f"\n{len(sent)} payloads ({dict(mutations)}): {sum(accepted.values())} accepted, "
        f"{sum(refused.values())} refused whole; refusals by reason {dict(reasons)}; {len(documents)} documents, "
        f"no restarts, no cross-tenant data"
    )
