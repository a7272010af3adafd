"""Enriched events (`hw.events.enriched`, Avro `enriched_event`): each accepted event with the user it
was resolved to and a snapshot of that user's attributes. action-streaming writes them; audience
computation reads them.
"""

from __future__ import annotations

from common.contracts.actions import Event, Value


def enriched_key(tenant: str, user_id: str) -> bytes:
    """The Kafka key: the user, so one user's events stay in order on one partition."""
    return f"{tenant}:{user_id}".encode()


def enriched_record(
    tenant: str, user_id: str, message_id: str, index: int, event: Event, snapshot: dict[str, Value]
) -> dict:
    return {
        "tenant": tenant,
        "user_id": user_id,
        "message_id": message_id,
        "index": index,
        "name": event.name,
        "time_ms": event.time_ms,
        "properties": event.properties,
        "user_attributes": snapshot,
    }
