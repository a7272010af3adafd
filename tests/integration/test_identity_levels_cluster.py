"""action-streaming by identifier levels on the local cluster (`headwater cluster up`, two
TaskManagers) spreads one tenant over both subtasks of every keyed operator (issue 16, item 6).

10k merge-heavy messages of 2k users of one tenant at parallelism 2: after the documents are the
reference model's, each subtask of each level's batcher must have read 35-65% of its records, from
Flink's REST API. A level's Python stage is keyed like its batcher (the same Row key, so the same
key groups and subtask), so it handles the records of its batcher's subtask; Flink counts its input
in batches, which it does not tell apart by size (logged, not asserted).
"""

from __future__ import annotations

import time

import pytest

from common.contracts.routing import LEVELS
from common.log import get_logger
from common.topics import topic
from harness.jobs import SubmittedJob
from harness.kafka import Collector
from harness.models.identity_network import merge_heavy
from harness.routed import produce_routed, wait_for_documents, wanted

log = get_logger(__name__)

pytestmark = pytest.mark.integration


@pytest.mark.timeout(900)
def test_one_tenant_spreads_over_both_subtasks_of_every_level(isolated_env, local_cluster, tmp_path):
    env, settings = isolated_env
    actions = merge_heavy(seed=6, messages=10_000, users=2_000)
    want_docs, _ = wanted(actions, {"acme": 50})
    deltas = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "state.deltas"))
    produce_routed(settings, actions)
    job = SubmittedJob("action-streaming", env, tmp_path / "p2.log", "--parallelism", "2")
    spread = {}
    try:
        wait_for_documents(job, deltas, [], want_docs)
        # Flink's metrics trail the records by a few seconds: read until two reads in a row agree.
        deadline, previous = time.monotonic() + 120, None
        while time.monotonic() < deadline:
            spread = {
                f"{kind} {part}": job.flink.records_in_per_subtask(job.job_id, f"{kind} {part}")
                for kind in LEVELS
                for part in ("batches", "keys")
            }
            if spread == previous:
                break
            previous = spread
            time.sleep(5)
    finally:
        job.kill()
        deltas.close()
    batchers = {name: n for name, n in spread.items() if name.endswith("batches")}
    uneven = {name: n for name, n in batchers.items() if len(n) != 2 or not 0.35 <= n[0] / max(1, sum(n)) <= 0.65}
    assert not uneven, f"subtasks outside 35-65%: {uneven} (all: {spread})"
    log.info(f"records (for the keys: batches) each subtask read: {spread}")
