"""`make chaos` in a short form (harness/chaos.py): 2,000 SDK batches (20,000 events) on the local
cluster while a TaskManager is killed with SIGKILL, the Kafka broker restarts, every inter-job topic
gets a poison record and FerretDB is down for 10 s. Every record is accounted for, MongoDB equals the
reference model, and the outbound events are exactly the reference engine's (none missing, none
twice). `make chaos` adds the other TaskManager's kill, a restart without a savepoint
(test_restart_without_savepoint.py) and a failing MongoDB login (test_reaction_streaming.py)."""

import pytest

from harness import chaos

pytestmark = pytest.mark.integration


@pytest.mark.timeout(1500)
def test_the_pipeline_survives_killed_taskmanagers_a_kafka_restart_and_a_mongodb_outage(
    isolated_env, local_cluster, tmp_path
):
    env, settings = isolated_env
    result = chaos.run(
        env,
        settings,
        local_cluster,
        tmp_path,
        batches=2_000,
        rate=100,
        mongo_outage_s=10,
        only=("kill -9 TaskManager 1", "restart the Kafka broker", "a poison record", "stop FerretDB"),
    )
    faults = result["faults"]
    assert all(f.recovery_s is not None for f in faults)
    assert faults[0].restarts >= 1, "killing a TaskManager restarted no job"
    v = result["verified"]
    assert v.actions + v.refused == 2_000 and v.refused > 0
