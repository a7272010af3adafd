"""Test helpers over the jobs' Prometheus endpoints (common/prometheus.py): find one job's samples,
and the metrics the Grafana dashboard asks for."""

from __future__ import annotations

import re

from common.prometheus import OPERATOR, Sample, label_value, scrape, scrape_all, total

__all__ = ["OPERATOR", "Sample", "dashboard_metrics", "job_samples", "label_value", "scrape", "total"]


def job_samples(port_range: str, marker: str) -> list[Sample]:
    """The samples of the jobs with a label that contains `marker` (e.g. their topic prefix: in the
    task names of sinks, and in the `topic` label of the Kafka sources' offsets), from every endpoint of
    the range. `job_name` tells the jobs apart (headwater_<job>)."""
    marker = label_value(marker)
    samples = scrape_all(port_range)
    jobs = {s.labels["job_id"] for s in samples if "job_id" in s.labels and any(marker in v for v in s.labels.values())}
    return [s for s in samples if s.labels.get("job_id") in jobs]


DASHBOARD = "infra/grafana/headwater.json"
_NAME = re.compile(r"\bflink_[A-Za-z0-9_]+")
_NAME_PATTERN = re.compile(r'__name__=~"([^"]+)"')


def dashboard_queries(path) -> list[str]:
    """Every PromQL expression of the Grafana dashboard at `path`."""
    import json

    dashboard = json.loads(path.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def dashboard_metrics(path) -> tuple[set[str], set[str]]:
    """(metric names, name patterns) the dashboard's queries select."""
    names, patterns = set(), set()
    for expr in dashboard_queries(path):
        patterns.update(_NAME_PATTERN.findall(expr))
        names.update(n for n in _NAME.findall(_NAME_PATTERN.sub("", expr)))
    return names, patterns
