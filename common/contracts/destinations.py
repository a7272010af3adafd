"""Destination instances (`hw.destinations.config`, compacted, Avro `destination`): where a tenant's
computations are delivered, and on which external id type a destination dedupes. `headwater
destinations put|delete` writes them; profile-dedupe reads them into broadcast state.
"""

from __future__ import annotations

from dataclasses import dataclass

DESTINATION_KINDS = ("email", "sms", "push", "webhook", "ads_list")
EXTERNAL_ID_TYPES = ("customer_id", "email", "phone", "anonymous_id", "device")


@dataclass(frozen=True)
class Destination:
    tenant: str
    destination_id: str
    kind: str
    computations: tuple[str, ...]
    dedupes_on: str | None = None
    enabled: bool = True

    @property
    def key(self) -> str:
        return f"{self.tenant}:{self.destination_id}"


def destination_from_record(record: dict) -> Destination:
    return Destination(
        tenant=record["tenant"],
        destination_id=record["destination_id"],
        kind=record["kind"],
        computations=tuple(record["computations"]),
        dedupes_on=record.get("dedupes_on"),
        enabled=bool(record.get("enabled", True)),
    )


def destination_record(destination: Destination, deleted: bool = False) -> dict:
    return {
        "tenant": destination.tenant,
        "destination_id": destination.destination_id,
        "kind": destination.kind,
        "computations": list(destination.computations),
        "dedupes_on": destination.dedupes_on,
        "enabled": destination.enabled,
        "deleted": deleted,
    }
