"""action-streaming's settings, each read from its environment variable (common/variables.py).
The identifier cap per user comes from the tenants file (HEADWATER_TENANTS, common/contracts/tenants.py)."""

from __future__ import annotations

from dataclasses import dataclass

from common.variables import declare, read_settings, setting

ENRICH_ATTRIBUTES = declare(
    "HEADWATER_ENRICH_ATTRIBUTES",
    None,
    "comma-separated user attributes copied onto enriched events",
    section="action-streaming",
    default_text="all",
)


@dataclass(frozen=True)
class ActionSettings:
    enrich_attributes: str | None = setting(ENRICH_ATTRIBUTES)

    @property
    def snapshot_attributes(self) -> tuple[str, ...] | None:
        """The attributes copied onto enriched events; None: all of them."""
        chosen = self.enrich_attributes
        return tuple(a.strip() for a in chosen.split(",") if a.strip()) if chosen else None

    @staticmethod
    def from_env(env=None) -> ActionSettings:
        return read_settings(ActionSettings, env)
