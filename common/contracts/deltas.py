"""State deltas (`hw.state.deltas`, Avro `state_delta`): the idempotent changes action-streaming
sends and reaction-streaming applies to MongoDB.

Four operations that are safe to apply twice: set, unset, add_to_set, pull (plus a document delete
for a deleted or merged-away user). Counters are *set* to their new totals, never incremented, so a
repeated delta changes nothing. Every delta carries the entity's new version: a reader applies a
delta only if it is newer than the document, which makes stale and repeated deltas recognisable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COLLECTIONS = ("users", "devices")


@dataclass
class Delta:
    collection: str  # users | devices
    doc_id: str  # "<tenant>:<id>", the MongoDB _id
    version: int
    delete: bool = False
    set: dict[str, object] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)
    add_to_set: dict[str, list] = field(default_factory=dict)
    pull: dict[str, list] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not (self.delete or self.set or self.unset or self.add_to_set or self.pull)


def doc_id(tenant: str, entity_id: str) -> str:
    """The MongoDB `_id` of a user or device document (and the Kafka key of its deltas)."""
    return f"{tenant}:{entity_id}"


def delta_record(tenant: str, message_id: str, delta: Delta) -> dict:
    return {
        "collection": delta.collection,
        "doc_id": delta.doc_id,
        "tenant": tenant,
        "version": delta.version,
        "message_id": message_id,
        "delete": delta.delete,
        "set": delta.set,
        "unset": delta.unset,
        "add_to_set": delta.add_to_set,
        "pull": delta.pull,
    }


def delta_key(delta: Delta) -> bytes:
    """The Kafka key: the document, so one document's deltas stay on one partition, in version order."""
    return delta.doc_id.encode()
