"""action-streaming's settings, each read from its environment variable (common/variables.py).
The identifier cap per user comes from the tenants file (HEADWATER_TENANTS, common/contracts/tenants.py)."""

from __future__ import annotations

from dataclasses import dataclass

from common.variables import PositiveInt, declare, read_settings, setting

ENRICH_ATTRIBUTES = declare(
    "HEADWATER_ENRICH_ATTRIBUTES",
    None,
    "comma-separated user attributes copied onto enriched events",
    section="action-streaming",
    default_text="all",
)


def _knob(name: str, default: int, meaning: str):
    return declare(f"HEADWATER_ACTION_{name}", default, meaning, kind=PositiveInt, section="action-streaming")


BATCH_RECORDS = _knob("BATCH_RECORDS", 256, "records of one bucket of a level handed to Python at once")
BATCH_DELAY_MS = _knob("BATCH_DELAY_MS", 20, "how long a bucket's batch of records may wait to fill")
STATE_CACHE = _knob(
    "STATE_CACHE",
    50_000,
    "identifier keys each level's subtask keeps in a read cache; a root's key holds its user's profile (about 1 KB)",
)
FRAME_RECORDS = _knob("FRAME_RECORDS", 500, "output records per frame handed to the JVM")


@dataclass(frozen=True)
class ActionSettings:
    enrich_attributes: str | None = setting(ENRICH_ATTRIBUTES)
    batch_records: int = setting(BATCH_RECORDS)
    batch_delay_ms: int = setting(BATCH_DELAY_MS)
    state_cache: int = setting(STATE_CACHE)
    frame_records: int = setting(FRAME_RECORDS)

    @property
    def snapshot_attributes(self) -> tuple[str, ...] | None:
        """The attributes copied onto enriched events; None: all of them."""
        chosen = self.enrich_attributes
        return tuple(a.strip() for a in chosen.split(",") if a.strip()) if chosen else None

    @staticmethod
    def from_env(env=None) -> ActionSettings:
        return read_settings(ActionSettings, env)
