"""audience-computation's progress line: what each subtask has done so far, printed every few seconds
to the job's log, and read back by tests, the demo and the benchmark."""

from __future__ import annotations

import re

NAME = "audience-computation"
FIELDS = (
    "events",
    "profiles",
    "definitions",
    "handovers_out",
    "handovers_in",
    "handovers_again",
    "messages",
    "entered",
    "exited",
    "timers_fired",
    "dropped_deleted",
    "rejected",
)
_LINE = re.compile(rf"{NAME} subtask (\d+): " + " ".join(rf"{f}=(\d+)" for f in FIELDS))


def format_report(subtask: int, totals: dict) -> str:
    return f"{NAME} subtask {subtask}: " + " ".join(f"{f}={totals[f]}" for f in FIELDS)


def parse_reports(text: str) -> list[dict[str, int]]:
    return [dict(zip(("subtask", *FIELDS), map(int, found))) for found in _LINE.findall(text)]


def combined(reports: list[dict[str, int]]) -> dict[str, int] | None:
    """The job's totals: the latest line of each subtask, added up."""
    latest = {r["subtask"]: r for r in reports}
    if not latest:
        return None
    return {f: sum(r[f] for r in latest.values()) for f in FIELDS}
