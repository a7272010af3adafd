"""profile-dedupe's rollout levers (`hw.dedupe.rollout`, compacted, Avro `dedupe_rollout`): the flag,
the gate and the comparator switch. `headwater rollout set` writes them; profile-dedupe reads them into
broadcast state. What they mean: jobs/profile_dedupe/rollout.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.errors import HeadwaterError

PATHS = ("new", "legacy")


class RolloutError(HeadwaterError, ValueError):
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


def rollout_from_record(record: dict) -> Rollout:
    return Rollout(
        new_path_percent=record["new_path_percent"],
        emergency_off=record["emergency_off"],
        comparator=record["comparator"],
        tenant_tiers=dict(record["tenant_tiers"]),
        default_tier=record["default_tier"],
        gate=dict(record["gate"]),
        default_path=record["default_path"],
    )


def rollout_record(rollout: Rollout) -> dict:
    return {
        "tenant": "*",
        "new_path_percent": rollout.new_path_percent,
        "emergency_off": rollout.emergency_off,
        "comparator": rollout.comparator,
        "tenant_tiers": dict(rollout.tenant_tiers),
        "default_tier": rollout.default_tier,
        "gate": dict(rollout.gate),
        "default_path": rollout.default_path,
    }
