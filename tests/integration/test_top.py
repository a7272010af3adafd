"""`headwater top --once` against a running job (docs/metrics.md): the page names the job, its state,
the topic it lags on, its last checkpoint and its freshness, from the job's Prometheus endpoint and
Kafka's end offsets."""

from __future__ import annotations

import json
import time

import pytest

from cli.synthetic import Generator
from common.kafka.produce import send
from common.topics import topic
from harness.jobs import RunningJob, run_headwater
from harness.kafka import Collector

pytestmark = pytest.mark.integration

BATCHES = 200


@pytest.mark.timeout(420)
def test_top_once_shows_the_running_job(isolated_env, tmp_path):
    from confluent_kafka import Producer

    env, settings = isolated_env
    generator = Generator(seed=31, arrival_ms=int(time.time() * 1000), users=100)
    actions = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "unified.actions"))
    job = RunningJob("api-unification", env, tmp_path / "job.log")
    try:
        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
        for _ in range(BATCHES):
            send(producer, topic(settings.topic_prefix, "ingest.sdk"), json.dumps(generator.sdk(5)).encode())
        assert producer.flush(60) == 0
        assert actions.wait_for(BATCHES, timeout=240, alive=job.alive)
        time.sleep(3)  # a checkpoint after the last action
        page = run_headwater(env, "top", "--once", "--interval", "1")
    finally:
        job.kill()
    assert page.returncode == 0, page.stderr
    ours = [line for line in page.stdout.splitlines() if "api-unification" in line]
    assert ours, page.stdout
    row = next(line for line in ours if topic(settings.topic_prefix, "ingest.sdk") in line)
    assert "RUNNING" in row and " s ago, " in row, row
    assert " s / " in row, row  # freshness p50 / p99
