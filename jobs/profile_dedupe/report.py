"""The progress line profile-dedupe prints, and its parser (for tests, the benchmark, operators).

    profile-dedupe[0]: messages=10000 sent=6210 dropped=3420 duplicates=370 rejected=0 waiting=0
    events=7450 deliveries=18000 mismatches=0 profiles=5000 decide_p95_us=180 decide_p99_us=420

Totals of one subtask (the number in brackets) since the job started; `combined` adds up the latest
line of each subtask. Every message read ends as sent (one or more outbound events),
dropped (every destination's decision was a drop, or none is connected), a duplicate, or rejected;
`waiting` are held back for their profile or the config. The per-branch counts are Flink metrics.
"""

from __future__ import annotations

import re

FIELDS = (
    "messages",
    "sent",
    "dropped",
    "duplicates",
    "rejected",
    "waiting",
    "events",
    "deliveries",
    "mismatches",
    "profiles",
)
LATENCY_FIELDS = ("decide_p95_us", "decide_p99_us")
_LINE = re.compile(r"profile-dedupe\[(\d+)\]: " + " ".join(f"{f}=(\\d+)" for f in FIELDS + LATENCY_FIELDS))


def format_report(subtask: int, totals: dict[str, int], latencies: dict[str, int]) -> str:
    return (
        f"profile-dedupe[{subtask}]: "
        + " ".join(f"{f}={totals[f]}" for f in FIELDS)
        + " "
        + " ".join(f"{f}={latencies[f]}" for f in LATENCY_FIELDS)
    )


def parse_reports(text: str) -> list[dict[str, int]]:
    return [dict(zip(("subtask",) + FIELDS + LATENCY_FIELDS, map(int, found))) for found in _LINE.findall(text)]


def combined(reports: list[dict[str, int]]) -> dict[str, int] | None:
    """The job's totals: the latest line of each subtask, added up (latencies: the worst)."""
    latest = {r["subtask"]: r for r in reports}
    if not latest:
        return None
    total = {f: sum(r[f] for r in latest.values()) for f in FIELDS}
    total.update({f: max(r[f] for r in latest.values()) for f in LATENCY_FIELDS})
    return total
