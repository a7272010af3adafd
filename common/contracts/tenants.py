"""Registered tenants and their ingestion policy, from config/tenants.yaml (or HEADWATER_TENANTS).

Defaults apply to every tenant; a tenant's own entry overrides any of them. The registry is loaded
when the job starts and shipped with it, so a replay runs with the same registry.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.config import REPO_ROOT, ConfigError
from common.variables import declare

DEFAULT_TENANTS_FILE = REPO_ROOT / "config" / "tenants.yaml"
TENANTS = declare(
    "HEADWATER_TENANTS",
    None,
    "registered tenants, limits and type-conflict policy (api-unification), identifier cap (action-streaming)",
    section="jobs",
    default_text="`config/tenants.yaml`",
)


class ConflictPolicy(str, Enum):
    DROP = "drop"
    REJECT = "reject"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    max_payload_bytes: int = Field(262_144, gt=0)
    max_events_per_batch: int = Field(100, gt=0)
    max_properties_per_event: int = Field(100, gt=0)
    max_string_length: int = Field(1024, gt=0)
    max_distinct_event_names: int = Field(500, gt=0)
    max_distinct_attributes: int = Field(500, gt=0)
    max_identifiers_per_user: int = Field(50, gt=0)  # action-streaming's identity cap


class TimeWindow(_Strict):
    max_past_days: float = Field(30, gt=0)
    max_future_minutes: float = Field(60, ge=0)

    @property
    def max_past_ms(self) -> int:
        return int(self.max_past_days * 86_400_000)

    @property
    def max_future_ms(self) -> int:
        return int(self.max_future_minutes * 60_000)


class TenantPolicy(_Strict):
    name: str
    write_keys: tuple[str, ...] = ()
    type_conflict_policy: ConflictPolicy = ConflictPolicy.DROP
    default_phone_region: str | None = None
    time_window: TimeWindow = TimeWindow()
    limits: Limits = Limits()


class TenantRegistry:
    def __init__(self, tenants: dict[str, TenantPolicy]):
        self.tenants = tenants
        self.by_write_key = {key: t for t in tenants.values() for key in t.write_keys}
        # Checked before parsing, so a huge payload is refused without being parsed.
        self.max_payload_bytes = max((t.limits.max_payload_bytes for t in tenants.values()), default=262_144)

    def get(self, name: object) -> TenantPolicy | None:
        return self.tenants.get(name) if isinstance(name, str) else None

    def for_write_key(self, key: object) -> TenantPolicy | None:
        return self.by_write_key.get(key) if isinstance(key, str) else None


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def parse_registry(document: dict) -> TenantRegistry:
    defaults = document.get("defaults") or {}
    tenants = {}
    for name, entry in (document.get("tenants") or {}).items():
        tenants[name] = TenantPolicy(name=name, **_merge(defaults, entry or {}))
    return TenantRegistry(tenants)


def load_registry(path: Path | None = None) -> TenantRegistry:
    path = path or Path(TENANTS.read() or DEFAULT_TENANTS_FILE)
    try:
        return parse_registry(yaml.safe_load(path.read_text()) or {})
    except FileNotFoundError:
        raise ConfigError(f"tenants file {path} not found: set HEADWATER_TENANTS or create it") from None
    except (yaml.YAMLError, ValidationError, TypeError) as exc:
        first = str(exc).splitlines()
        raise ConfigError(f"tenants file {path} is invalid: {' '.join(first[:3])}") from None
