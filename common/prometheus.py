"""Read the jobs' metrics as Prometheus does: from the `/metrics` endpoints of Flink's reporter.

Every Flink process (the MiniCluster of a `headwater run`, a cluster's JobManager and TaskManagers)
serves on the first free port of HEADWATER_METRICS_PORTS (docs/metrics.md). `headwater top` and the
tests scan that range on loopback.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass

OPERATOR = "flink_taskmanager_job_task_operator_"


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


def scrape_all(port_range: str, timeout: float = 0.5) -> list[Sample]:
    """The samples of every endpoint in the range."""
    return [sample for port in ports(port_range) for sample in scrape(port, timeout=timeout)]


def label_value(text: str) -> str:
    """How Flink's reporter writes a name into a label value (every other character becomes `_`)."""
    return re.sub(r"[^a-zA-Z0-9:_]", "_", text)


def total(samples: list[Sample], name: str, by: str | None = None):
    """The sum of `name` over every subtask; with `by`, a dict label value -> sum."""
    if by is None:
        return sum(s.value for s in samples if s.name == name)
    sums: dict[str, float] = defaultdict(float)
    for s in samples:
        if s.name == name:
            sums[s.labels.get(by, "")] += s.value
    return dict(sums)
