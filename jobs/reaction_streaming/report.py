"""The progress line reaction-streaming prints, and its parser (for tests, the benchmark, operators).

    reaction-streaming: deltas=104284 writes=52011 (coalescing 2.01x) applied=51466 stale=545 refused=0
    retries=0 write_p50_ms=52 write_p99_ms=190

Totals since the job started: deltas read, writes sent (after coalescing), writes applied, stale
(already as new: a duplicate or a replay), refused (sent to hw.rejected), retries while MongoDB was
unavailable, and the latency of the last bulk commands.
"""

from __future__ import annotations

import re

FIELDS = ("deltas", "writes", "applied", "stale", "refused", "retries", "write_p50_ms", "write_p99_ms")
_LINE = re.compile(
    r"reaction-streaming: deltas=(\d+) writes=(\d+) \(coalescing [\d.]+x\) applied=(\d+) stale=(\d+) "
    r"refused=(\d+) retries=(\d+) write_p50_ms=(\d+) write_p99_ms=(\d+)"
)


def format_report(totals: dict[str, int], p50_ms: int, p99_ms: int) -> str:
    ratio = totals["deltas"] / totals["writes"] if totals["writes"] else 0.0
    return (
        f"reaction-streaming: deltas={totals['deltas']} writes={totals['writes']} (coalescing {ratio:.2f}x) "
        f"applied={totals['applied']} stale={totals['stale']} refused={totals['refused']} "
        f"retries={totals['retries']} write_p50_ms={p50_ms} write_p99_ms={p99_ms}"
    )


def parse_reports(text: str) -> list[dict[str, int]]:
    return [dict(zip(FIELDS, map(int, found))) for found in _LINE.findall(text)]
