"""`headwater import-csv` against real Kafka: converted rows on hw.ingest.csv, refused rows reported by line."""

import json
import os
import subprocess
import sys

import pytest

from cli.synthetic import WRITE_KEYS
from common.config import REPO_ROOT
from common.contracts.tenants import load_registry
from common.topics import topic
from harness.kafka import Collector
from jobs.api_unification.unify import unify

pytestmark = pytest.mark.integration


def _import(env: dict, *options: str) -> subprocess.CompletedProcess:
    examples = REPO_ROOT / "examples"
    command = ["import-csv", "--tenant", "acme", "--file", str(examples / "customers.csv")]
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *command, "--mapping", str(examples / "customers.mapping.yaml"), *options],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_csv_sends_convertible_rows_and_reports_the_rest(isolated_env):
    env, settings = isolated_env
    for bad_key, why in (
        ({}, "no write key: set HEADWATER_WRITE_KEY (or --write-key) to a key of tenant acme"),
        ({"HEADWATER_WRITE_KEY": WRITE_KEYS["globex"]}, "the write key is not one of tenant acme's"),
    ):
        refused = _import({**env, "HEADWATER_WRITE_KEY": "", **bad_key})
        assert refused.returncode == 1 and why in refused.stderr and len(refused.stderr.splitlines()) == 1, refused
    r = _import({**env, "HEADWATER_WRITE_KEY": WRITE_KEYS["acme"]})
    assert r.returncode == 2, r.stderr  # some rows refused
    assert r.stdout.splitlines() == [
        f"rows sent 2 to {settings.topic_prefix}ingest.csv, rows refused 3",
        "  line 4: no identifier: columns id, email are all empty",
        "  line 5: column 'age': 'forty' is not a number",
        "  line 6: column 'updated_at' is empty",
    ]
    collector = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "ingest.csv"))
    assert collector.wait_for(2, timeout=30)
    collector.poll_for(1)
    collector.close()
    assert len(collector.values) == 2
    collector.values.sort(key=lambda v: json.loads(v)["import"]["line"])  # two users: two partitions
    records = [json.loads(v) for v in collector.values]
    assert [(x["customer_id"], x["import"]["line"]) for x in records] == [("c-1", 2), ("c-2", 3)]
    registry = load_registry()
    arrival = 1_793_534_410_000  # 2026-11-01T10:00:10Z, just after the rows' timestamps
    actions = [unify("csv", v, arrival, registry).action for v in collector.values]
    assert actions[0].attributes[-1].value == ["vip", "beta"] and actions[0].source == "csv"
    assert [a.name for a in actions[1].attributes] == ["plan"]
