"""Two deployments with different topic prefixes share one broker without fencing each other (issue 18,
item 7).

Transactional ids and consumer groups used to be `headwater-<job>` whatever HEADWATER_TOPIC_PREFIX said:
a second deployment's sink initialising transaction `headwater-skeleton-0-N` fenced the first one's
producer, which failed, restarted and fenced the other in turn. Now both carry the prefix. Two skeleton
jobs run side by side over ~15 s of input (several checkpoints each); each writes its own records exactly
once, no producer is ever fenced, and each has its own consumer group.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter

import pytest

from common import config
from common.flink.kafka import client_name
from common.flink.restore import job_groups
from common.kafka.admin import ensure_topics
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.jobs import RunningJob
from harness.kafka import Collector, produce

pytestmark = pytest.mark.integration

CHUNKS, PER_CHUNK = 10, 500


def _deployment(name: str, tmp_path):
    run_id = uuid.uuid4().hex[:8]
    log_dir = tmp_path / name
    log_dir.mkdir()
    env = {
        "HEADWATER_TOPIC_PREFIX": f"{name}{run_id}.",
        "HEADWATER_CHECKPOINTS": f"s3://{config.DEFAULT_CHECKPOINT_BUCKET}/{name}-{run_id}",
        "FLINK_LOG_DIR": str(log_dir),  # this deployment's own Flink log
    }
    settings = config.load({**os.environ, **env})
    ensure_topics(settings, partitions=2)
    return env, settings, log_dir


def _records(name: str, start: int) -> list[bytes]:
    return [json.dumps({"type": "track", "tenant": name, "seq": i}).encode() for i in range(start, start + PER_CHUNK)]


def test_two_prefixes_on_one_broker_each_exactly_once_without_fencing(stack, tmp_path):
    deployments = {name: _deployment(name, tmp_path) for name in ("blue", "green")}
    outputs = {
        name: Collector(s.kafka_bootstrap, topic(s.topic_prefix, "skeleton.envelopes"))
        for name, (_, s, _) in deployments.items()
    }
    jobs = {name: RunningJob("skeleton", env, tmp_path / f"{name}.log") for name, (env, _, _) in deployments.items()}
    try:
        for chunk in range(CHUNKS):  # both run through several checkpoints at once
            for name, (_, settings, _) in deployments.items():
                produce(
                    settings.kafka_bootstrap,
                    topic(settings.topic_prefix, "ingest.api"),
                    _records(name, chunk * PER_CHUNK),
                )
            time.sleep(1.5)
        for name, collector in outputs.items():
            assert collector.wait_for(CHUNKS * PER_CHUNK, timeout=180, alive=jobs[name].alive), (
                f"{name}: {len(collector.values)} envelopes; see {jobs[name].log}"
            )
            collector.poll_for(5)  # a few more checkpoints: nothing more may appear
    finally:
        for job in jobs.values():
            job.kill()
    codec = AvroCodec()
    for name, collector in outputs.items():
        payloads = [json.loads(codec.decode(v)["payload"]) for v in collector.values]
        assert {p["tenant"] for p in payloads} == {name}
        assert Counter(p["seq"] for p in payloads) == Counter(range(CHUNKS * PER_CHUNK)), f"{name}: not exactly once"
        _, settings, log_dir = deployments[name]
        flink_log = "".join(p.read_text(errors="replace") for p in log_dir.glob("*.log"))
        assert flink_log, f"no Flink log under {log_dir}"
        assert f"transactionalId={client_name(settings, 'skeleton')}-0-" in flink_log
        assert "ProducerFencedException" not in flink_log, f"{name}'s producer was fenced; see {log_dir}"
        assert list(job_groups(settings, "skeleton")) == [client_name(settings, "skeleton")]
