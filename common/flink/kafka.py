"""Kafka sources and exactly-once sinks for PyFlink jobs, built one way for every job.

Between jobs every arrow is a Kafka topic written with Kafka transactions and read with
`isolation.level=read_committed` (docs/architecture.md): a record becomes visible downstream only when the
checkpoint that covers it completes, so a crash and restart never exposes a record twice.
"""

from __future__ import annotations

import re

from common.config import TOPIC_PREFIX, Settings


def client_name(settings: Settings, job: str, role: str = "") -> str:
    """The consumer group id or transactional id prefix of one of `job`'s Kafka clients.

    Two deployments on one broker must not share these: a shared transactional id fences the other
    deployment's producer, a shared group mixes their offsets. So they carry the topic prefix. The
    default prefix keeps 0.2's names (`headwater-<job>`), so a deployment upgraded in place keeps its
    consumer groups and aborts its own lingering transactions on restore."""
    name = f"headwater-{job}" + (f"-{role}" if role else "")
    return name if settings.topic_prefix == TOPIC_PREFIX.default else f"{settings.topic_prefix}{name}"


def kafka_source(
    settings: Settings,
    topic: str | list[str],
    group_id: str,
    *,
    raw_bytes: bool = False,
    compacted: bool = False,
    j_deserializer=None,
):
    """A KafkaSource reading committed records only, resuming from committed offsets (else earliest).
    `topic` may be a list: one source then reads all of them.

    After `headwater run|submit --reset-to TIME` (settings.start_from_ms) a job's first start reads
    from TIME instead; a `compacted` topic (a table, such as destinations) is read whole whatever
    TIME says. A restored job reads from the offsets in its state either way. `j_deserializer`: a
    Java KafkaRecordDeserializationSchema that sees whole records (keys too), instead of values only."""
    from pyflink.common.serialization import ByteArraySchema, SimpleStringSchema
    from pyflink.datastream.connectors.kafka import (
        KafkaOffsetResetStrategy,
        KafkaOffsetsInitializer,
        KafkaSource,
    )

    if settings.start_from_ms is not None and not compacted:
        starting = KafkaOffsetsInitializer.timestamp(settings.start_from_ms)
    else:
        starting = KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST)
    builder = (
        KafkaSource.builder()
        .set_bootstrap_servers(settings.kafka_bootstrap)
        .set_topics(*([topic] if isinstance(topic, str) else topic))
        .set_group_id(group_id)
        .set_starting_offsets(starting)
        .set_value_only_deserializer(ByteArraySchema() if raw_bytes else SimpleStringSchema())
    )
    if j_deserializer is not None:
        builder._j_builder.setDeserializer(j_deserializer)
    for key, value in _client_properties(settings).items():
        builder = builder.set_property(key, value)
    return (
        builder.set_property("isolation.level", "read_committed")
        .set_property("partition.discovery.interval.ms", "30000")
        .build()
    )


# flink-sql-connector-kafka (the connector jar the jobs ship) relocates the Kafka client's classes.
KAFKA_PACKAGE, SHADED_KAFKA_PACKAGE = "org.apache.kafka.", "org.apache.flink.kafka.shaded.org.apache.kafka."


def _client_properties(settings: Settings) -> dict[str, str]:
    """HEADWATER_KAFKA_PROPERTIES for the Java clients (SASL, TLS, client.id): read here, at build
    time, and carried in the job graph, so TaskManagers need not see the file.

    Class names in the values (the JAAS login module, callback handlers) are written as Kafka's own
    tools take them; the connector jar relocates those classes, so they are renamed to match (an
    unrenamed PlainLoginModule fails every source with "No LoginModule found")."""
    from common.kafka.clients import properties_of

    return {key: shaded(value) for key, value in properties_of(settings).java.items()}


def shaded(value: str) -> str:
    """`value` with Kafka's class names as the relocated connector knows them."""
    return re.sub(rf"(?<![\w.]){re.escape(KAFKA_PACKAGE)}", SHADED_KAFKA_PACKAGE, value)


def keyed_record_type():
    """Element type for `exactly_once_sink(keyed=True)`: Row(key bytes, value bytes)."""
    from pyflink.common import Types

    return Types.ROW([Types.PRIMITIVE_ARRAY(Types.BYTE()), Types.PRIMITIVE_ARRAY(Types.BYTE())])


def _row_field_schema(field: int):
    from pyflink.common.serialization import SerializationSchema
    from pyflink.java_gateway import get_gateway

    return SerializationSchema(j_serialization_schema=get_gateway().jvm.headwater.flink.RowFieldBytesSchema(field))


def exactly_once_sink(settings: Settings, topic: str, transactional_id_prefix: str, *, keyed: bool = False):
    """A transactional KafkaSink for byte values (Avro single-object encoded).

    With `keyed`, elements are Row(key, value) (see `keyed_record_type`) and each record gets its key,
    so Kafka's partitioner keeps records of one key on one partition, in order."""
    from pyflink.common.serialization import ByteArraySchema
    from pyflink.datastream.connectors.base import DeliveryGuarantee
    from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink

    serializer = KafkaRecordSerializationSchema.builder().set_topic(topic)
    if keyed:
        serializer = serializer.set_key_serialization_schema(_row_field_schema(0)).set_value_serialization_schema(
            _row_field_schema(1)
        )
    else:
        serializer = serializer.set_value_serialization_schema(ByteArraySchema())
    builder = (
        KafkaSink.builder()
        .set_bootstrap_servers(settings.kafka_bootstrap)
        .set_record_serializer(serializer.build())
        .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .set_transactional_id_prefix(transactional_id_prefix)
    )
    for key, value in _client_properties(settings).items():
        builder = builder.set_property(key, value)
    return builder.set_property("transaction.timeout.ms", str(settings.kafka_transaction_timeout_ms)).build()


def frame_type():
    """Element type of a Python operator that emits frames (common/serde/frames.py)."""
    from pyflink.common import Types

    return Types.PRIMITIVE_ARRAY(Types.BYTE())


def framed_exactly_once_sink(stream, settings: Settings, topics: list[str], transactional_id_prefix: str, uid: str):
    """Split a stream of frames into keyed records and write each to topics[output] exactly once.

    One chained Java operator splits the frames (RecordFrames.java); one transactional KafkaSink
    writes all topics, so all of one checkpoint's outputs commit in one transaction per subtask."""
    records = split_frames(stream, topics, uid=f"{uid}-split")
    return records_exactly_once_sink(records, settings, topics, transactional_id_prefix, uid)


def java_strings(values: list[str]):
    from pyflink.java_gateway import get_gateway

    gateway = get_gateway()
    array = gateway.new_array(gateway.jvm.java.lang.String, len(values))
    for i, value in enumerate(values):
        array[i] = value
    return array


def split_frames(stream, outputs: list[str], uid: str):
    """Frames -> Row(output, key, value, timestamp) records, in a chained Java operator
    (RecordFrames.java), which counts records per output (`outputs` names them for the metrics)."""
    from pyflink.datastream.data_stream import DataStream
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    records = DataStream(stream._j_data_stream.flatMap(jvm.headwater.flink.RecordFrames(java_strings(outputs))))
    return records.uid(uid).name("split frames into records")


def records_exactly_once_sink(records, settings: Settings, topics: list[str], transactional_id_prefix: str, uid: str):
    """Row(output, key, value, timestamp) records -> topics[output], in one transactional KafkaSink."""
    from pyflink.datastream.connectors import Sink
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    j_builder = (
        jvm.org.apache.flink.connector.kafka.sink.KafkaSink.builder()
        .setBootstrapServers(settings.kafka_bootstrap)
        .setRecordSerializer(jvm.headwater.flink.RoutedRecordSerializer(java_strings(topics)))
        .setDeliveryGuarantee(jvm.org.apache.flink.connector.base.DeliveryGuarantee.EXACTLY_ONCE)
        .setTransactionalIdPrefix(transactional_id_prefix)
    )
    for key, value in _client_properties(settings).items():
        j_builder = j_builder.setProperty(key, value)
    j_sink = j_builder.setProperty("transaction.timeout.ms", str(settings.kafka_transaction_timeout_ms)).build()
    return records.sink_to(Sink(j_sink)).uid(uid).name(f"exactly-once sink to {', '.join(topics)}")
