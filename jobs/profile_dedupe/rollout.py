"""The rollout levers of the write-up: a flag chooses whether the dedupe (new) path runs, a gate
chooses which path's output is sent, per tenant tier. Both live in a compacted topic
(hw.dedupe.rollout) and change while the job runs (`headwater rollout set`).

- flag: `new_path_percent` of profiles (a stable hash of tenant and profile, so a profile stays on
  one path while the percentage grows) run the new path; `emergency_off` turns it off for everyone.
- gate: the tenant's tier (`tenant_tiers`, else `default_tier`) maps to `new` or `legacy` (`gate`,
  else `default_path`). The new path's output is sent only where the flag also ran it.
- comparator: where the new path runs, the legacy path runs too and their deliveries to destinations
  without `dedupes_on` are compared (comparator.py).

With no rollout record the new path runs and is sent everywhere, without the comparator.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

PATHS = ("new", "legacy")


class RolloutError(ValueError):
    pass


@dataclass(frozen=True)
class Rollout:
    new_path_percent: int = 100
    emergency_off: bool = False
    comparator: bool = False
    tenant_tiers: dict[str, str] = field(default_factory=dict)
    default_tier: str = "default"
    gate: dict[str, str] = field(default_factory=dict)
    default_path: str = "new"

    def __post_init__(self):
        if not 0 <= self.new_path_percent <= 100:
            raise RolloutError(f"new_path_percent {self.new_path_percent} is not within 0-100")
        for tier, path in [*self.gate.items(), ("default", self.default_path)]:
            if path not in PATHS:
                raise RolloutError(f"gate for tier {tier!r} is {path!r}: it must be new or legacy")


@dataclass(frozen=True)
class PathChoice:
    run_new: bool
    run_legacy: bool
    send: str  # "new" or "legacy"
    compare: bool


def bucket(tenant: str, profile_id: str) -> int:
    """0-99, stable across processes and replays (unlike Python's str hash)."""
    return int.from_bytes(hashlib.sha256(f"{tenant}:{profile_id}".encode()).digest()[:4], "big") % 100


def choose(rollout: Rollout, tenant: str, profile_id: str) -> PathChoice:
    percent = rollout.new_path_percent
    run_new = not rollout.emergency_off and (percent == 100 or (percent > 0 and bucket(tenant, profile_id) < percent))
    wanted = rollout.gate.get(rollout.tenant_tiers.get(tenant, rollout.default_tier), rollout.default_path)
    send = "new" if run_new and wanted == "new" else "legacy"
    compare = run_new and rollout.comparator
    return PathChoice(run_new=run_new, run_legacy=send == "legacy" or compare, send=send, compare=compare)


def rollout_from_record(record: dict) -> Rollout:
    return Rollout(new_path_percent=record["new_path_percent"], emergency_off=record["emergency_off"],
                   comparator=record["comparator"], tenant_tiers=dict(record["tenant_tiers"]),
                   default_tier=record["default_tier"], gate=dict(record["gate"]), default_path=record["default_path"])


def rollout_record(rollout: Rollout) -> dict:
    return {"tenant": "*", "new_path_percent": rollout.new_path_percent, "emergency_off": rollout.emergency_off,
            "comparator": rollout.comparator, "tenant_tiers": dict(rollout.tenant_tiers),
            "default_tier": rollout.default_tier, "gate": dict(rollout.gate), "default_path": rollout.default_path}
