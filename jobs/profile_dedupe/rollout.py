"""The rollout levers (docs/profile-dedupe.md): a flag chooses whether the dedupe (new) path runs, a gate
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
from dataclasses import dataclass

from common.contracts.rollout import Rollout


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
