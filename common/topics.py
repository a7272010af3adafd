"""The Kafka topics of the pipeline (docs/architecture.md), named once.

Names are the defaults with `HEADWATER_TOPIC_PREFIX` in front. Compacted topics hold the latest value
per key (identity profiles, destination config); the others are append-only streams.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    suffix: str
    compacted: bool = False
    doc: str = ""
    # Holds identifiers or whole ingested records past the point where a user can be deleted: kept
    # only HEADWATER_RETENTION_HOURS (docs/operations.md, "Deleting a user").
    expires: bool = False


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("ingest.sdk", doc="JSON SDK batches from mobile/web SDKs"),
    TopicSpec("ingest.api", doc="JSON server-side data API calls"),
    TopicSpec("ingest.partner", doc="JSON Segment-spec partner messages"),
    TopicSpec("ingest.csv", doc="JSON rows from `headwater import-csv`"),
    TopicSpec("rejected", expires=True, doc="refused records with a reason code"),
    TopicSpec("rejected.redrives", compacted=True, doc="JSON: rejections `headwater rejected redrive` sent again"),
    TopicSpec("unified.actions", doc="Avro: one record per (tenant, user) per incoming message"),
    TopicSpec("events.enriched", expires=True, doc="Avro: events with resolved user and attribute snapshot"),
    TopicSpec("state.deltas", doc="Avro: idempotent set/unset/add_to_set/pull per entity"),
    TopicSpec("identity.profiles", compacted=True, doc="Avro: profile -> external ids"),
    TopicSpec("identity.forget", doc="sealed device keys a delete tells to forget their fields (version, 8 bytes)"),
    TopicSpec("compute.output", doc="Avro: profile computation messages with trigger reasons"),
    TopicSpec("destinations.config", compacted=True, doc="Avro: destination instances with dedupes_on"),
    TopicSpec("delivery.outbound", doc="Avro: deduplicated outbound events, one per ID group"),
    TopicSpec(
        "audiences.config", compacted=True, doc="Avro: audience definitions per tenant (audience-computation, issue 20)"
    ),
    TopicSpec(
        "audiences.handovers",
        doc="Avro: what a merged user left its survivor's bucket (audience-computation to itself)",
    ),
    TopicSpec("dedupe.rollout", compacted=True, doc="Avro: profile-dedupe's flag, gate and comparator switch"),
    TopicSpec(
        "dedupe.handovers",
        doc="Avro: what a merged profile's bucket remembered, for its survivor's bucket (profile-dedupe to itself)",
    ),
    TopicSpec("dedupe.mismatches", doc="Avro: deliveries the shadow comparator found in one path only"),
    TopicSpec("skeleton.envelopes", doc="Avro envelopes written by the walking-skeleton job"),
)


def topic(prefix: str, suffix: str) -> str:
    """The full topic name for one of TOPICS' suffixes."""
    if suffix not in {t.suffix for t in TOPICS}:
        raise KeyError(f"unknown topic {suffix!r}")
    return f"{prefix}{suffix}"
