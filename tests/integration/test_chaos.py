"""`make chaos` in a short form (harness/chaos.py): 2,000 SDK batches (20,000 events) on the local
cluster while both TaskManagers are killed with SIGKILL, action-streaming is cancelled and submitted
again without a savepoint, the Kafka broker restarts and FerretDB is down for 10 s. Every record is
accounted for, MongoDB equals the reference model, and the outbound events are exactly the reference
engine's (none missing, none twice)."""

import pytest

from harness import chaos

pytestmark = pytest.mark.integration


@pytest.mark.timeout(1500)
def test_the_pipeline_survives_killed_taskmanagers_a_kafka_restart_and_a_mongodb_outage(
    isolated_env, local_cluster, tmp_path
):
    env, settings = isolated_env
    result = chaos.run(
        env, settings, local_cluster, tmp_path, batches=2_000, rate=100, mongo_outage_s=10, credentials_s=10
    )
    faults = result["faults"]
    assert all(f.recovery_s is not None for f in faults)
    assert sum(f.restarts for f in faults[:2]) >= 1, "killing the TaskManagers restarted no job"
    v = result["verified"]
    assert v.actions + v.refused == 2_000 and v.refused > 0
