"""Kafka sources and exactly-once sinks for PyFlink jobs, built one way for every job.

Between jobs every arrow is a Kafka topic written with Kafka transactions and read with
`isolation.level=read_committed` (DESIGN.md): a record becomes visible downstream only when the
checkpoint that covers it completes, so a crash and restart never exposes a record twice.
"""

from __future__ import annotations

from common.config import Settings

# Must not exceed the broker's transaction.max.timeout.ms (15 min by default on any Kafka): a pending
# transaction that outlives it is aborted by the broker and its records are lost to read_committed
# readers. 15 minutes covers a restart with a slow checkpoint restore.
TRANSACTION_TIMEOUT_MS = 15 * 60 * 1000


def kafka_source(settings: Settings, topic: str, group_id: str, *, raw_bytes: bool = False):
    """A KafkaSource reading committed records only, resuming from committed offsets (else earliest)."""
    from pyflink.common.serialization import ByteArraySchema, SimpleStringSchema
    from pyflink.datastream.connectors.kafka import (
        KafkaOffsetResetStrategy,
        KafkaOffsetsInitializer,
        KafkaSource,
    )

    return (
        KafkaSource.builder()
        .set_bootstrap_servers(settings.kafka_bootstrap)
        .set_topics(topic)
        .set_group_id(group_id)
        .set_starting_offsets(KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST))
        .set_value_only_deserializer(ByteArraySchema() if raw_bytes else SimpleStringSchema())
        .set_property("isolation.level", "read_committed")
        .set_property("partition.discovery.interval.ms", "30000")
        .build()
    )


def exactly_once_sink(settings: Settings, topic: str, transactional_id_prefix: str):
    """A transactional KafkaSink for byte values (Avro single-object encoded)."""
    from pyflink.common.serialization import ByteArraySchema
    from pyflink.datastream.connectors.base import DeliveryGuarantee
    from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink

    return (
        KafkaSink.builder()
        .set_bootstrap_servers(settings.kafka_bootstrap)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic(topic)
            .set_value_serialization_schema(ByteArraySchema())
            .build()
        )
        .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .set_transactional_id_prefix(transactional_id_prefix)
        .set_property("transaction.timeout.ms", str(TRANSACTION_TIMEOUT_MS))
        .build()
    )
