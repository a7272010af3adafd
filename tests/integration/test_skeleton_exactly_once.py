"""Walking skeleton on the real stack: N records in, N envelopes out exactly once, even across a crash.

The job is killed with SIGKILL in the middle of the stream (no clean shutdown, an open Kafka
transaction) and resumed from its last retained checkpoint in MinIO. Read with read_committed,
the output holds every input exactly once.
"""

import json
import signal
import time
from collections import Counter

import pytest

from common.flink.checkpoints import completed_checkpoints, latest_checkpoint
from common.log import get_logger
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.jobs import RunningJob
from harness.kafka import Collector, produce

log = get_logger(__name__)

pytestmark = pytest.mark.integration

N = 20_000
FIRST = 3_000  # before the crash; the rest (~1 s of work) is in flight when the job is killed


def _records(start, stop):
    return [json.dumps({"type": "track", "tenant": "acme", "seq": i}).encode() for i in range(start, stop)]


def _seqs(values):
    codec = AvroCodec()
    return Counter(json.loads(codec.decode(v)["payload"])["seq"] for v in values)


def test_n_records_arrive_exactly_once_across_a_kill_and_restore(isolated_env, tmp_path):
    env, settings = isolated_env
    ingest = topic(settings.topic_prefix, "ingest.api")
    out = topic(settings.topic_prefix, "skeleton.envelopes")
    collector = Collector(settings.kafka_bootstrap, out)
    uncommitted = Collector(settings.kafka_bootstrap, out, isolation="read_uncommitted")

    first = RunningJob("skeleton", env, tmp_path / "job-1.log")
    try:
        produce(settings.kafka_bootstrap, ingest, _records(0, FIRST))
        assert collector.wait_for(FIRST, timeout=120, alive=first.alive), (
            f"no complete output within 120 s; see {first.log}"
        )
        assert uncommitted.wait_for(FIRST, timeout=30)
        produce(settings.kafka_bootstrap, ingest, _records(FIRST, N))
        # Kill while a transaction is open: records written (read_uncommitted sees them) but not committed.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            uncommitted.poll_for(0.1)
            collector.poll_for(0.1)
            if len(uncommitted.values) > len(collector.values) + 100:
                break
        in_open_transaction = len(uncommitted.values) - len(collector.values)
    finally:
        first.kill(signal.SIGKILL)

    checkpoint = latest_checkpoint(settings, "skeleton")
    assert checkpoint and checkpoint.startswith(f"s3://{settings.checkpoint_bucket}/"), checkpoint
    seen_before_restart = len(collector.values)

    second = RunningJob("skeleton", env, tmp_path / "job-2.log", "--from-savepoint", checkpoint)
    try:
        assert collector.wait_for(N, timeout=180, alive=second.alive), (
            f"only {len(collector.values)} of {N} envelopes after restore; see {second.log}"
        )
        collector.poll_for(8)  # a few more checkpoint intervals: nothing more may appear
    finally:
        second.kill(signal.SIGTERM)
        collector.close()

    counts = _seqs(collector.values)
    duplicates = {s: c for s, c in counts.items() if c > 1}
    assert not duplicates, f"duplicated seqs: {list(duplicates.items())[:10]}"
    assert set(counts) == set(range(N)), f"missing seqs: {sorted(set(range(N)) - set(counts))[:10]}"
    assert len(collector.values) == N
    assert seen_before_restart < N, "the kill came too late to test recovery"
    assert in_open_transaction > 100, "the kill did not hit an open transaction"

    # The log holds more than the committed output (the aborted transaction's records, unless its
    # commit raced the kill); read_committed readers never saw any of them (asserted above).
    uncommitted.poll_for(3)
    uncommitted.close()
    assert len(uncommitted.values) >= N
    log.info(
        f"committed before kill: {seen_before_restart}; in the open transaction at kill: {in_open_transaction}; "
        f"read_uncommitted total {len(uncommitted.values)}; read_committed total {len(collector.values)}"
    )

    # Checkpoints of the restored run are in MinIO too.
    assert len(completed_checkpoints(settings, "skeleton")) >= 2
