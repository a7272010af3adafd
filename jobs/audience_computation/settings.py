"""audience-computation's settings, each read from its environment variable (common/variables.py)."""

from __future__ import annotations

from dataclasses import dataclass

from common.variables import PositiveInt, declare, read_settings, setting

SECTION = "audience-computation"


def _knob(name: str, default: int, meaning: str):
    return declare(f"HEADWATER_AUDIENCE_{name}", default, meaning, kind=PositiveInt, section=SECTION)


BUCKETS = _knob(
    "BUCKETS",
    16,
    "buckets of (tenant, user) the job is keyed by, evenly over the subtasks at any parallelism up to this "
    "count; fixed for the life of a deployment: a savepoint restores only with the count it was taken with",
)
BATCH_RECORDS = _knob("BATCH_RECORDS", 1024, "per-bucket batch size handed to Python (records)")
BATCH_DELAY_MS = _knob("BATCH_DELAY_MS", 50, "how long a per-bucket batch may wait to fill")
LATENESS_MS = _knob(
    "LATENESS_MS",
    3_600_000,
    "how far a bucket's event-time clock stands behind the newest event time of each partition of "
    "hw.events.enriched: an exit by time waits this long; an event later than this counts from the clock",
)
TIMER_CHECK_MS = _knob("TIMER_CHECK_MS", 1_000, "how often a bucket with users waiting for a change point looks")
USER_CACHE = _knob("USER_CACHE", 50_000, "users whose state each subtask keeps in a read cache")
FRAME_RECORDS = _knob("FRAME_RECORDS", 200, "output records per frame handed to the JVM")


@dataclass(frozen=True)
class AudienceSettings:
    buckets: int = setting(BUCKETS)
    batch_records: int = setting(BATCH_RECORDS)
    batch_delay_ms: int = setting(BATCH_DELAY_MS)
    lateness_ms: int = setting(LATENESS_MS)
    timer_check_ms: int = setting(TIMER_CHECK_MS)
    user_cache: int = setting(USER_CACHE)
    frame_records: int = setting(FRAME_RECORDS)

    @staticmethod
    def from_env(env=None) -> AudienceSettings:
        return read_settings(AudienceSettings, env)
