"""Integration tests run against the real local stack (`headwater up`, done by `make test`).

Each test that asks for `isolated_env` gets its own topic prefix and checkpoint location, so tests
(and runs) never see each other's records, consumer offsets or checkpoints.
"""

from __future__ import annotations

import os
import uuid

import pytest

from common import config
from common.kafka.admin import ensure_topics
from common.log import get_logger
from infra.stack import control

log = get_logger(__name__)

# Tests produce records with fixed event times, days or weeks old, so that runs are reproducible. The
# local broker keeps records forever (infra/stack/services.py), but `ensure_topics` gives hw.rejected and
# hw.events.enriched a retention in hours, and the broker would delete such records before a job or a
# test read them. Every topic the tests (and the jobs they start) create keeps them instead; a test of
# the retention itself sets its own.
os.environ.setdefault("HEADWATER_RETENTION_HOURS", str(100 * 365 * 24))


@pytest.fixture(scope="session")
def stack():
    settings = config.load()
    down = [r for r in control.status(settings) if r.state != "running"]
    if down:
        pytest.fail(f"local stack not running ({', '.join(r.name + ': ' + r.state for r in down)}): run `headwater up`")
    return settings


@pytest.fixture
def isolated_env(stack):
    """Environment variables for a private copy of the pipeline: own topics, own checkpoints, own MongoDB database."""
    run_id = uuid.uuid4().hex[:8]
    env = {
        "HEADWATER_TOPIC_PREFIX": f"it{run_id}.",
        "HEADWATER_CHECKPOINTS": f"s3://{config.DEFAULT_CHECKPOINT_BUCKET}/it-{run_id}",
        "HEADWATER_MONGO_DB": f"it{run_id}",
    }
    settings = config.load({**os.environ, **env})
    ensure_topics(settings, partitions=2)
    yield env, settings
    from pymongo import MongoClient

    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(settings.mongo_database)


@pytest.fixture(scope="session")
def local_cluster(stack, tmp_path_factory):
    """The local Flink cluster (`headwater cluster up`, two TaskManagers); started and stopped here
    unless one already runs. Yields its REST address."""
    import subprocess
    import sys
    import time

    from harness.flink_python import flink_only_python
    from harness.jobs import headwater
    from infra.stack import flink_cluster

    running = any(pid for _, pid, _ in flink_cluster.processes(stack))
    if not running:
        # TaskManagers as on another host: PyFlink's Python, no checkout; every submit ships the code.
        os.environ["HEADWATER_CLUSTER_PYTHON"] = str(flink_only_python(stack.data_dir / "flink" / "python-flink-only"))
        up_log = tmp_path_factory.mktemp("cluster") / "cluster-up.log"
        started = time.monotonic()
        assert headwater({}, up_log, "cluster", "up", "--taskmanagers", "2", "--slots", "4").wait(180) == 0, (
            up_log.read_text()
        )
        log.info(f"cluster up in {time.monotonic() - started:.1f} s")
    yield stack.flink_rest
    if not running:
        subprocess.run([sys.executable, "-m", "cli.main", "cluster", "down"], check=True, timeout=120)
