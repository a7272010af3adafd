"""`headwater destinations put|list|delete` and `headwater rollout show|set`: profile-dedupe's config.

Both write Avro records to compacted topics (hw.destinations.config, hw.dedupe.rollout) that the
running job reads into broadcast state: a change applies without a restart.
"""

from __future__ import annotations

from dataclasses import replace

from cli.produce import write_one
from common.config import Settings
from common.contracts.destinations import (
    DESTINATION_KINDS,
    EXTERNAL_ID_TYPES,
    Destination,
    destination_from_record,
    destination_record,
)
from common.contracts.rollout import PATHS, Rollout, RolloutError, rollout_from_record, rollout_record
from common.errors import HeadwaterError
from common.kafka.snapshot import read_to_end
from common.serde.avro import AvroCodec
from common.topics import topic
from jobs.profile_dedupe.config import latest_config


class DedupeConfigError(HeadwaterError, ValueError):
    pass


def _latest(settings: Settings, suffix: str, codec: AvroCodec) -> dict[str, tuple[str, dict, bytes]]:
    return latest_config(read_to_end(settings, [topic(settings.topic_prefix, suffix)]), codec)


def put_destination(
    settings: Settings,
    tenant: str,
    destination_id: str,
    kind: str,
    computations: list[str],
    dedupes_on: str | None,
    enabled: bool,
) -> Destination:
    if kind not in DESTINATION_KINDS:
        raise DedupeConfigError(f"--kind {kind!r}: use one of {', '.join(DESTINATION_KINDS)}")
    if dedupes_on is not None and dedupes_on not in EXTERNAL_ID_TYPES:
        raise DedupeConfigError(
            f"--dedupes-on {dedupes_on!r}: use an external id type, one of {', '.join(EXTERNAL_ID_TYPES)}"
        )
    computations = [c.strip() for c in computations if c.strip()]
    if not computations:
        raise DedupeConfigError("--computations: name at least one computation id (comma-separated)")
    destination = Destination(tenant, destination_id, kind, tuple(computations), dedupes_on, enabled)
    codec = AvroCodec()
    write_one(
        settings,
        topic(settings.topic_prefix, "destinations.config"),
        destination.key,
        codec.encode("destination", destination_record(destination)),
    )
    return destination


def list_destinations(settings: Settings, tenant: str | None = None) -> list[Destination]:
    found = [
        destination_from_record(record)
        for _schema, record, _raw in _latest(settings, "destinations.config", AvroCodec()).values()
        if not record.get("deleted")
    ]
    return sorted((d for d in found if tenant is None or d.tenant == tenant), key=lambda d: d.key)


def delete_destination(settings: Settings, tenant: str, destination_id: str) -> None:
    """Writes a `deleted` record (kept by compaction as the key's latest value)."""
    current = {d.destination_id: d for d in list_destinations(settings, tenant)}
    if destination_id not in current:
        raise DedupeConfigError(
            f"tenant {tenant!r} has no destination {destination_id!r} (`headwater destinations list` shows them)"
        )
    codec = AvroCodec()
    write_one(
        settings,
        topic(settings.topic_prefix, "destinations.config"),
        current[destination_id].key,
        codec.encode("destination", destination_record(current[destination_id], deleted=True)),
    )


def current_rollout(settings: Settings) -> Rollout:
    latest = _latest(settings, "dedupe.rollout", AvroCodec())
    return rollout_from_record(latest["rollout"][1]) if "rollout" in latest else Rollout()


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    pairs = {}
    for value in values or []:
        name, sep, setting = value.partition("=")
        if not sep or not name or not setting:
            raise DedupeConfigError(f"{flag} {value!r}: write NAME=VALUE")
        pairs[name] = setting
    return pairs


def set_rollout(
    settings: Settings,
    *,
    percent: int | None = None,
    emergency_off: bool | None = None,
    comparator: bool | None = None,
    tiers: list[str] | None = None,
    gates: list[str] | None = None,
    default_tier: str | None = None,
    default_path: str | None = None,
) -> Rollout:
    rollout = current_rollout(settings)
    changes: dict = {}
    if percent is not None:
        changes["new_path_percent"] = percent
    if emergency_off is not None:
        changes["emergency_off"] = emergency_off
    if comparator is not None:
        changes["comparator"] = comparator
    if tiers:
        changes["tenant_tiers"] = {**rollout.tenant_tiers, **_pairs(tiers, "--tier")}
    if gates:
        gate = _pairs(gates, "--gate")
        for tier, path in gate.items():
            if path not in PATHS:
                raise DedupeConfigError(f"--gate {tier}={path}: the path is new or legacy")
        changes["gate"] = {**rollout.gate, **gate}
    if default_tier is not None:
        changes["default_tier"] = default_tier
    if default_path is not None:
        changes["default_path"] = default_path
    try:
        rollout = replace(rollout, **changes)
    except RolloutError as exc:
        raise DedupeConfigError(str(exc)) from None
    write_one(
        settings,
        topic(settings.topic_prefix, "dedupe.rollout"),
        "rollout",
        AvroCodec().encode("dedupe_rollout", rollout_record(rollout)),
    )
    return rollout


def describe_rollout(rollout: Rollout) -> str:
    gate = ", ".join(f"{tier}={path}" for tier, path in sorted(rollout.gate.items())) or "-"
    tiers = ", ".join(f"{t}={tier}" for t, tier in sorted(rollout.tenant_tiers.items())) or "-"
    return (
        f"flag: new path for {rollout.new_path_percent}% of profiles"
        f"{' (EMERGENCY OFF: new path off for everyone)' if rollout.emergency_off else ''}\n"
        f"gate: {gate}; other tiers: {rollout.default_path}\n"
        f"tenant tiers: {tiers}; other tenants: {rollout.default_tier}\n"
        f"comparator: {'on' if rollout.comparator else 'off'}"
    )
