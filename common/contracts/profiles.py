"""Identity profiles (`hw.identity.profiles`, compacted, Avro `identity_profile`): which external ids
a profile (a resolved user) holds, and whether it was merged into another or deleted.
action-streaming writes them; profile-dedupe reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class ExternalId(NamedTuple):
    """A tuple, so profile state packs and unpacks at C speed (pack/unpack run for every message)."""

    type: str
    value: str
    first_seen_ms: int = 0

    @property
    def pair(self) -> tuple[str, str]:
        return self.type, self.value


@dataclass(frozen=True)
class ProfileIds:
    """What hw.identity.profiles says of one profile."""

    ids: tuple[ExternalId, ...] = ()
    merged_into: str | None = None
    deleted: bool = False


def profile_key(tenant: str, user_id: str) -> bytes:
    """The Kafka key (compaction keeps the latest record per profile)."""
    return f"{tenant}:{user_id}".encode()


def profile_record(
    tenant: str, user_id: str, first_seen_ids: dict[str, int], merged_into: str | None = None, deleted: bool = False
) -> dict:
    """`first_seen_ids`: identifier key ("email:a@b.c") -> event time it was first linked to the user."""
    external = [
        {"type": key.split(":", 1)[0], "value": key.split(":", 1)[1], "first_seen_ms": seen}
        for key, seen in sorted(first_seen_ids.items())
    ]
    return {
        "tenant": tenant,
        "user_id": user_id,
        "external_ids": external,
        "merged_into": merged_into,
        "deleted": deleted,
    }


def profile_from_record(record: dict) -> tuple[str, ProfileIds]:
    ids = tuple(sorted(ExternalId(i["type"], i["value"], int(i["first_seen_ms"])) for i in record["external_ids"]))
    return record["user_id"], ProfileIds(ids, record.get("merged_into"), bool(record.get("deleted")))
