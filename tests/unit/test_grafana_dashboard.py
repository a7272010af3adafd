"""The Grafana dashboard (infra/grafana/headwater.json) asks only for metrics that exist: the jobs'
own (declared in their operators) here, Flink's built-in ones against a real scrape in
tests/integration/test_prometheus_metrics.py."""

from __future__ import annotations

import re

from common import config
from harness import prometheus
from jobs.action_streaming.level_operator import COUNTERS as ACTION_COUNTERS
from jobs.api_unification.sources import SOURCES
from jobs.reaction_streaming.flushing import COUNTS as REACTION_COUNTS
from jobs.reaction_streaming.operators import PARKING_COUNTS

OPERATOR = "flink_taskmanager_job_task_operator_"
DASHBOARD = config.REPO_ROOT / prometheus.DASHBOARD

# What the jobs register under their operators' metric groups (besides the counters imported above).
OWN = {
    "reason_rejected",  # api-unification: add_group("reason", code).counter("rejected")
    *(f"messages_{source}" for source in SOURCES),
    "write_latency_p50_ms",
    "write_latency_p99_ms",
    "freshness_p50_ms",
    "freshness_p99_ms",
    "topic_records_out",  # RecordFrames.java: add_group("topic", name).counter("records_out")
    *ACTION_COUNTERS,
    *REACTION_COUNTS,
    *PARKING_COUNTS,
}
OWN_PATTERNS = {"branch_.*"}  # profile-dedupe: one counter per decision branch
BUILT_IN = re.compile(r"flink_(jobmanager_job|taskmanager_job_task)_[A-Za-z]+$|" + OPERATOR + "KafkaSourceReader_")


def test_every_query_names_a_metric_that_exists():
    names, patterns = prometheus.dashboard_metrics(DASHBOARD)
    assert names and patterns
    for name in names:
        own = name.removeprefix(OPERATOR)
        assert own in OWN or BUILT_IN.match(name), f"{name}: no job registers it"
    for pattern in patterns:
        own = pattern.removeprefix(OPERATOR)
        matched = [n for n in OWN if re.fullmatch(own, n)] or own in OWN_PATTERNS
        assert matched, f"{pattern}: matches no metric a job registers"


def test_panels_are_laid_out_without_overlap():
    import json

    panels = json.loads(DASHBOARD.read_text())["panels"]
    cells = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in panels]
    assert len(set(cells)) == len(cells)
    assert all(p["targets"] and p["datasource"]["uid"] == "${datasource}" for p in panels)
