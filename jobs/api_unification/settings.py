"""api-unification's settings: the registered tenants and their ingestion policy, from the tenants
file (HEADWATER_TENANTS, declared in common/contracts/tenants.py: action-streaming reads it too)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.contracts.tenants import TENANTS, TenantRegistry, load_registry
from common.variables import read_settings, setting


@dataclass(frozen=True)
class UnificationSettings:
    tenants_file: str | None = setting(TENANTS)

    def registry(self) -> TenantRegistry:
        """Loaded when the job is built and shipped with it, so a replay runs with the same registry."""
        return load_registry(Path(self.tenants_file) if self.tenants_file else None)

    @staticmethod
    def from_env(env=None) -> UnificationSettings:
        return read_settings(UnificationSettings, env)
