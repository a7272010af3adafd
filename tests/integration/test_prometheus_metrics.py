"""The jobs' metrics reach Prometheus (docs/metrics.md): a job run with `headwater run` serves Flink's
Prometheus endpoint on a port of HEADWATER_METRICS_PORTS, and what it counts there is what was sent.

api-unification reads 300 valid and 60 invalid API records; the pure rules say how many messages each
source counter must show and how many refusals of each reason, and the scrape must agree, together
with the Kafka source's records read and the actions written per topic. `headwater top --once` shows
the job from the same endpoint.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from cli.synthetic import Generator
from common.contracts.routing import routed
from common.contracts.tenants import load_registry
from common.kafka.produce import send
from common.topics import topic
from harness import prometheus
from harness.jobs import RunningJob, run_headwater
from harness.kafka import Collector
from jobs.api_unification.tenant_schema import TenantSchema
from jobs.api_unification.unify import unify

pytestmark = pytest.mark.integration

VALID, INVALID = 300, 60
OPERATOR = "flink_taskmanager_job_task_operator_"


def _reference(inputs, arrival):
    registry, schemas, reasons, actions = load_registry(), {}, Counter(), 0
    for raw in inputs:
        outcome = unify("api", raw, arrival, registry)
        reasons.update(r.reason.value for r in outcome.rejections)
        if outcome.action is not None:
            more, _ = schemas.setdefault(outcome.tenant, TenantSchema()).admit(
                outcome.action, registry.get(outcome.tenant)
            )
            reasons.update(r.reason.value for r in more)
            actions += len(routed(outcome.action))  # its routed records: the message and its links
    return actions, reasons


@pytest.mark.timeout(420)
def test_a_scrape_counts_what_was_sent(isolated_env, tmp_path):
    from confluent_kafka import Producer

    env, settings = isolated_env
    assert settings.metrics_ports, "HEADWATER_METRICS_PORTS is empty: no endpoint to scrape"
    arrival = int(time.time() * 1000)
    generator = Generator(seed=17, arrival_ms=arrival, users=200)
    inputs = [json.dumps(generator.api()).encode() for _ in range(VALID)] + [
        generator.invalid("api") for _ in range(INVALID)
    ]
    actions_expected, reasons_expected = _reference(inputs, arrival)
    assert sum(reasons_expected.values()) >= INVALID

    actions = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "unified.actions"))
    job = RunningJob("api-unification", env, tmp_path / "job.log")
    try:
        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
        for raw in inputs:
            send(producer, topic(settings.topic_prefix, "ingest.api"), raw, timestamp=arrival)
        assert producer.flush(60) == 0
        assert actions.wait_for(actions_expected, timeout=240, alive=job.alive), (
            f"{len(actions.values)}/{actions_expected} routed records"
        )
        # The reporter reads the counters when scraped; the last records' counts may trail by a moment.
        deadline = time.monotonic() + 60
        while True:
            samples = prometheus.job_samples(settings.metrics_ports, settings.topic_prefix)
            reasons = prometheus.total(samples, OPERATOR + "reason_rejected", by="reason")
            messages = prometheus.total(samples, OPERATOR + "messages_api")
            written = prometheus.total(samples, OPERATOR + "topic_records_out", by="topic")
            if (messages, reasons) == (len(inputs), dict(reasons_expected)) and written or time.monotonic() > deadline:
                break
            time.sleep(1)
        page = run_headwater(env, "top", "--once", "--interval", "1")  # the same endpoint, as a person reads it
    finally:
        job.kill()
    assert page.returncode == 0, page.stderr
    row = next((line for line in page.stdout.splitlines() if "api-unification" in line), page.stdout)
    assert "RUNNING" in row and topic(settings.topic_prefix, "ingest.api") in row, row
    assert " s ago, " in row and " s / " in row, row  # last checkpoint; freshness p50 / p99
    assert samples, f"no endpoint in {settings.metrics_ports} serves the job's metrics; see {job.log}"
    assert messages == len(inputs)
    assert reasons == dict(reasons_expected)
    assert written[prometheus.label_value(topic(settings.topic_prefix, "unified.actions"))] == actions_expected
    source_in = [
        s for s in samples if s.name == OPERATOR + "numRecordsOut" and "ingest_api" in s.labels["operator_name"]
    ]
    assert sum(s.value for s in source_in) == len(inputs), source_in
