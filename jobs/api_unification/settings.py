"""api-unification's settings: the registered tenants and their ingestion policy, from the tenants
file (HEADWATER_TENANTS, declared in common/contracts/tenants.py: action-streaming reads it too), and
how long a message waits for its tenant's schema to decide a new name or type."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.contracts.tenants import TENANTS, TenantRegistry, load_registry
from common.variables import PositiveInt, declare, read_settings, setting

SECTION = "api-unification"

SCHEMA_RETRY_MS = declare(
    "HEADWATER_SCHEMA_RETRY_MS",
    20,
    "how often a message waiting for its tenant's schema to decide a new name or type looks again",
    kind=PositiveInt,
    section=SECTION,
)
SCHEMA_WAIT_MS = declare(
    "HEADWATER_SCHEMA_WAIT_MS",
    60_000,
    "longest a message waits for a schema decision before it is refused (SCHEMA_UNDECIDED)",
    kind=PositiveInt,
    section=SECTION,
)
PROPOSALS_MEMO = declare(
    "HEADWATER_SCHEMA_PROPOSALS_MEMO",
    100_000,
    "event names (with their property types) and attributes each subtask remembers having proposed to "
    "the schema arbiter (not sent again)",
    kind=PositiveInt,
    section=SECTION,
)


@dataclass(frozen=True)
class UnificationSettings:
    tenants_file: str | None = setting(TENANTS)
    schema_retry_ms: int = setting(SCHEMA_RETRY_MS)
    schema_wait_ms: int = setting(SCHEMA_WAIT_MS)
    proposals_memo: int = setting(PROPOSALS_MEMO)

    def registry(self) -> TenantRegistry:
        """Loaded when the job is built and shipped with it, so a replay runs with the same registry."""
        return load_registry(Path(self.tenants_file) if self.tenants_file else None)

    @staticmethod
    def from_env(env=None) -> UnificationSettings:
        return read_settings(UnificationSettings, env)
