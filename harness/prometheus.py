"""Read a job's metrics the way Prometheus does: from the `/metrics` endpoints of Flink's reporter.

Each Flink process (a `headwater run` MiniCluster, each JobManager and TaskManager of a cluster) serves
on the first free port of HEADWATER_METRICS_PORTS, so a test finds its job's endpoint by scanning the
range for series of that job (its task names carry the topic prefix).
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict
    value: float


def ports(port_range: str) -> list[int]:
    first, _, last = port_range.partition("-")
    return list(range(int(first), int(last or first) + 1))


def scrape(port: int, timeout: float = 2.0) -> list[Sample]:
    """Every sample one endpoint serves on 127.0.0.1; [] when nothing answers there."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return []
    return [
        Sample(sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def label_value(text: str) -> str:
    """How Flink's reporter writes a name into a label value (every other character becomes `_`)."""
    return re.sub(r"[^a-zA-Z0-9:_]", "_", text)


def job_samples(port_range: str, marker: str) -> list[Sample]:
    """The samples of the jobs with a label that contains `marker` (e.g. their topic prefix: in the
    task names of sinks, and in the `topic` label of the Kafka sources' offsets), from every endpoint of
    the range. `job_name` tells the jobs apart (headwater_<job>)."""
    marker = label_value(marker)
    found: list[Sample] = []
    for port in ports(port_range):
        samples = scrape(port, timeout=0.5)
        jobs = {
            s.labels["job_id"]
            for s in samples
            if "job_id" in s.labels and any(marker in value for value in s.labels.values())
        }
        found += [s for s in samples if s.labels.get("job_id") in jobs]
    return found


def total(samples: list[Sample], name: str, by: str | None = None):
    """The sum of `name` over every subtask; with `by`, a dict label value -> sum."""
    if by is None:
        return sum(s.value for s in samples if s.name == name)
    sums: dict[str, float] = defaultdict(float)
    for s in samples:
        if s.name == name:
            sums[s.labels.get(by, "")] += s.value
    return dict(sums)


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
