"""Registered tenants and their ingestion policy, from config/tenants.yaml (or HEADWATER_TENANTS).

Defaults apply to every tenant; a tenant's own entry overrides any of them. The registry is loaded
when the job starts and shipped with it, so a replay runs with the same registry.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from enum import Enum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
WRITE_KEY = declare(
    "HEADWATER_WRITE_KEY",
    None,
    "the tenant's write key for `headwater import-csv` (instead of `--write-key`, which `ps` shows)",
    section="command line",
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


WRITE_KEY_HASH = re.compile(r"sha256:[0-9a-f]{64}")


def hash_write_key(key: str) -> str:
    """How a write key is stored in the tenants file: keys are random tokens (`headwater write-key
    new`), so a plain SHA-256 is enough to keep a leaked tenants file from leaking the keys."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def new_write_key() -> str:
    """A random write key: 192 bits, URL-safe, recognisable by its prefix."""
    return "wk_" + secrets.token_urlsafe(24)


class TenantPolicy(_Strict):
    name: str
    # SHA-256 hashes of the keys that authenticate this tenant's records; two while a key is rotated.
    write_keys: tuple[str, ...] = ()
    type_conflict_policy: ConflictPolicy = ConflictPolicy.DROP
    default_phone_region: str | None = None
    time_window: TimeWindow = TimeWindow()
    limits: Limits = Limits()

    @field_validator("write_keys")
    @classmethod
    def _hashed(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        for key in keys:
            if not WRITE_KEY_HASH.fullmatch(key):
                raise ValueError(
                    f"write_keys holds {key[:12]!r}..., not a hash: store the line `headwater write-key hash` prints"
                )
        return keys


class TenantRegistry:
    def __init__(self, tenants: dict[str, TenantPolicy]):
        self.tenants = tenants
        self.by_write_key: dict[str, TenantPolicy] = {}
        for tenant in tenants.values():
            for hashed in tenant.write_keys:
                other = self.by_write_key.setdefault(hashed, tenant)
                if other is not tenant:
                    raise ConfigError(
                        f"tenants {other.name} and {tenant.name} hold the same write key: give each its own"
                    )
        # Checked before parsing, so a huge payload is refused without being parsed.
        self.max_payload_bytes = max((t.limits.max_payload_bytes for t in tenants.values()), default=262_144)

    def get(self, name: object) -> TenantPolicy | None:
        return self.tenants.get(name) if isinstance(name, str) else None

    def for_write_key(self, key: object) -> TenantPolicy | None:
        """The tenant a write key authenticates (None for a missing or unknown key)."""
        if not isinstance(key, str) or not key:
            return None
        return self.by_write_key.get(hash_write_key(key))


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
