"""The progress line profile-dedupe prints, and its parser (for tests, the benchmark, operators).

    profile-dedupe: messages=10000 sent=6210 dropped=3420 duplicates=370 rejected=0 waiting=0
    events=7450 deliveries=18000 mismatches=0 profiles=5000 decide_p95_us=180 decide_p99_us=420

Totals since the job started. Every message read ends as sent (one or more outbound events),
dropped (every destination's decision was a drop, or none is connected), a duplicate, or rejected;
`waiting` are held back for their profile or the config. The per-branch counts are Flink metrics.
"""

from __future__ import annotations

import re

FIELDS = ("messages", "sent", "dropped", "duplicates", "rejected", "waiting", "events", "deliveries",
          "mismatches", "profiles")
LATENCY_FIELDS = ("decide_p95_us", "decide_p99_us")
_LINE = re.compile(r"profile-dedupe: " + " ".join(f"{f}=(\\d+)" for f in FIELDS + LATENCY_FIELDS))


def format_report(totals: dict[str, int], latencies: dict[str, int]) -> str:
    return "profile-dedupe: " + " ".join(f"{f}={totals[f]}" for f in FIELDS) + " " + \
        " ".join(f"{f}={latencies[f]}" for f in LATENCY_FIELDS)


def parse_reports(text: str) -> list[dict[str, int]]:
    return [dict(zip(FIELDS + LATENCY_FIELDS, map(int, found))) for found in _LINE.findall(text)]
