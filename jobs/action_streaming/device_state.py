"""A device document's id. A device belongs to one user at a time (levels.py decides who, at the
device's own key); its document is keyed by a hash of the device id, never the id itself."""

from __future__ import annotations

import hashlib

from common.contracts.deltas import doc_id


def device_doc_id(tenant: str, device_id: str) -> str:
    """A device document's `_id` (and its deltas' Kafka key): a hash of the device id, not the id. A
    deleted document leaves a tombstone under its `_id` (reaction-streaming keeps it, so that a
    replayed older delta cannot bring the document back): the tombstone must not hold the identifier."""
    return doc_id(tenant, "dev-" + hashlib.sha256(f"{tenant}|{device_id}".encode()).hexdigest()[:32])
