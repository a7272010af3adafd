"""profile-dedupe's settings, each read from its environment variable (common/variables.py)."""

from __future__ import annotations

from dataclasses import dataclass

from common.variables import PositiveInt, declare, read_settings, setting

SECTION = "profile-dedupe"


def _knob(name: str, default: int, meaning: str):
    return declare(f"HEADWATER_DEDUPE_{name}", default, meaning, kind=PositiveInt, section=SECTION)


PROFILE_WAIT_MS = _knob("PROFILE_WAIT_MS", 10_000, "how long a message waits for its profile in `hw.identity.profiles`")
CONFIG_WAIT_MS = _knob(
    "CONFIG_WAIT_MS", 30_000, "how long a fresh job waits for the config that existed at submit time"
)
WINDOW_HOURS = _knob("WINDOW_HOURS", 7 * 24, "event-time window in which a copy of a message is a duplicate")
COMPARATOR_CAP = _knob("COMPARATOR_CAP", 10_000, "comparator keys held in memory before spilling to RocksDB")
BATCH_RECORDS = _knob("BATCH_RECORDS", 1024, "per-bucket batch size handed to Python (records)")
BATCH_DELAY_MS = _knob("BATCH_DELAY_MS", 50, "how long a per-bucket batch may wait to fill")
PROFILE_CACHE = _knob(
    "PROFILE_CACHE", 50_000, "profiles whose state each subtask keeps in a read cache (about 1.7 KB each)"
)
BUCKETS = _knob(
    "BUCKETS",
    16,
    "buckets of (tenant, profile) the job is keyed by, evenly over the subtasks at any parallelism up to this "
    "count; fixed for the life of a deployment: a savepoint restores only with the count it was taken with",
)
RETRY_MS = _knob("RETRY_MS", 200, "how often waiting messages are looked at again")
FRAME_RECORDS = _knob(
    "FRAME_RECORDS", 200, "output records per frame handed to the JVM (a huge fan-out goes out in several)"
)


@dataclass(frozen=True)
class DedupeSettings:
    profile_wait_ms: int = setting(PROFILE_WAIT_MS)
    config_wait_ms: int = setting(CONFIG_WAIT_MS)
    duplicate_window_hours: int = setting(WINDOW_HOURS)
    comparator_cap: int = setting(COMPARATOR_CAP)
    batch_records: int = setting(BATCH_RECORDS)
    batch_delay_ms: int = setting(BATCH_DELAY_MS)
    profile_cache: int = setting(PROFILE_CACHE)
    buckets: int = setting(BUCKETS)
    retry_ms: int = setting(RETRY_MS)
    frame_records: int = setting(FRAME_RECORDS)

    @staticmethod
    def from_env(env=None) -> DedupeSettings:
        return read_settings(DedupeSettings, env)
