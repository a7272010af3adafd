"""The walking skeleton's one rule: wrap an ingested record, unchanged, in an Avro envelope."""

from __future__ import annotations

ENVELOPE_SCHEMA = "envelope"


def wrap(source: str, topic: str, payload: str) -> dict:
    """The envelope record for one ingested value; deterministic (no clock, no randomness)."""
    return {
        "source": source,
        "topic": topic,
        "payload": payload,
        "payload_bytes": len(payload.encode("utf-8", errors="surrogatepass")),
    }
