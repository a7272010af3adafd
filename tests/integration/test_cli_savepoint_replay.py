"""`headwater savepoint` and `headwater replay`, run as a user runs them, on the local cluster.

action-streaming runs part A of a merge-heavy input; `headwater savepoint action-streaming` takes a
savepoint and the job keeps running; part B follows. `headwater replay action-streaming
--from-savepoint PATH` then replaces the running job: the replay reads part B again and enriches each
of its events once more, and nothing else; its deltas fold to the documents of the whole input
(docs/operations.md says which per-message outputs a replay may word differently).
"""

from __future__ import annotations

from collections import Counter

import pytest

from common.flink.cluster import FlinkCluster
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.jobs import SubmittedJob, headwater_ok
from harness.kafka import Collector
from harness.models.identity_network import merge_heavy
from harness.routed import enriched_ids, produce_routed, wait_for_documents, wanted

pytestmark = pytest.mark.integration

CODEC = AvroCodec()


def _headwater(env: dict, *args: str) -> str:
    done = headwater_ok(env, *args)
    return done.stdout


def test_a_savepoint_taken_by_the_cli_replays_part_b(isolated_env, local_cluster, tmp_path):
    env, settings = isolated_env
    env = {**env, "HEADWATER_FLINK": local_cluster}
    actions = merge_heavy(seed=19, messages=800, users=80)
    part_a, part_b = actions[:400], actions[400:]
    want = wanted(actions)[0]
    events = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "events.enriched"))
    deltas = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "state.deltas"))
    flink = FlinkCluster(local_cluster)
    produce_routed(settings, part_a)
    job = SubmittedJob("action-streaming", env, tmp_path / "submit.log")
    try:
        _documents(deltas, wanted(part_a)[0])
        said = _headwater(env, "savepoint", "action-streaming")
        savepoint = next(line for line in said.splitlines() if line.startswith("savepoint: ")).split()[1]
        assert flink.active_job("action-streaming").job_id == job.job_id  # it keeps running
        produce_routed(settings, part_b)
        _documents(deltas, want)
        events.catch_up(idle=4)
        first = enriched_ids(CODEC, events.values)
        of_b = Counter({event: n for event, n in first.items() if event[0] in {a.message_id for a in part_b}})
        _headwater(env, "replay", "action-streaming", "--from-savepoint", savepoint)
        replayed = flink.active_job("action-streaming").job_id
        assert replayed != job.job_id
        # A message that reaches a user deleted just before is dropped (counted), which depends on
        # timing: nearly all of part B's events, not exactly the same ones.
        assert events.wait_for(len(events.values) + len(of_b) * 9 // 10, timeout=180), "the replay enriched less"
        events.catch_up(idle=5)  # and nothing more
        _documents(deltas, want)  # the replay's deltas change no document
    finally:
        active = flink.find_active("action-streaming")
        if active is not None:
            flink.cancel(active.job_id)
        events.close()
        deltas.close()
    assert max(first.values()) == 1, "an event was enriched twice before the replay"
    again = enriched_ids(CODEC, events.values) - first
    assert max(again.values()) == 1, "the replay enriched an event twice"
    # the savepoint was taken with all of part A done: the replay reads part B again, and only it
    assert {m for m, _i in again} <= {a.message_id for a in part_b}, "the replay enriched part A's events"
    assert len(set(again) & set(of_b)) >= len(of_b) * 9 // 10, "the replay skipped part B's events"


def _documents(deltas: Collector, want: dict) -> None:
    """Until every delta read so far folds to `want` (versions left out: docs/operations.md)."""
    wait_for_documents(None, deltas, list(deltas.values), want, timeout=180, versions=False)
