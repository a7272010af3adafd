"""action-streaming: `hw.unified.actions` -> identity and per-user state, keyed below the tenant
(docs/identity.md) -> deltas, enriched events, profiles. It reads the records
api-unification writes, one per identifier a message names, keyed by routing key
(common/contracts/routing.py), so one tenant's traffic spreads over every subtask.

Wiring only (operator: level_operator.py; the rules: levels.py):
  KafkaSource (read_committed, with keys) -> per level, weakest first: the records routed to keys of
  that level, and the items the stages below forward to it, in batches keyed by bucket (Java:
  IdentityLevels.java, TenantBatches.java) -> LevelStage -> frames split in Java: Kafka records to
  one exactly-once sink (deltas, enriched events, profiles, rejected, forgets), forwards to the
  stages above.
Everything in the job flows up, so the graph has no cycle; the one thing that goes down (a deleted
user's forgets, to its devices' keys) leaves through the transactional sink to `hw.identity.forget`
and comes back through a read_committed source.
"""

from __future__ import annotations

from pyflink.common import Types, WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.data_stream import DataStream, KeyedStream
from pyflink.java_gateway import get_gateway

from common.config import Settings
from common.contracts.routing import LEVELS
from common.contracts.tenants import load_registry
from common.flink.kafka import (
    client_name,
    frame_type,
    java_strings,
    kafka_source,
    records_exactly_once_sink,
    split_frames,
)
from common.flink.keys import spread_names
from common.flink.settings import static_settings
from common.topics import topic
from jobs.action_streaming.level_operator import FORGET, FORWARD_BASE, LEVEL_TOPICS, LevelStage
from jobs.action_streaming.records import OUTPUTS
from jobs.action_streaming.settings import ActionSettings

NAME = "action-streaming"
__all__ = ["NAME", "OUTPUTS", "build"]
LEVEL_BUCKETS = 64  # buckets per level: its parallelism can grow to this many subtasks


def build(env: StreamExecutionEnvironment, settings: Settings) -> None:
    """action-streaming keyed by identifier: `hw.unified.actions` keyed by routing key
    (common/contracts/routing.py) -> one stage per identifier level, weakest first, each keyed by
    bucket and fed by its routed records and the forwards of the stages below it -> one exactly-once
    sink (deltas, enriched events, profiles, rejected)."""
    gateway = get_gateway()
    jvm = gateway.jvm

    def java(name: str):  # a nested class of IdentityLevels.java
        return getattr(jvm.headwater.flink, f"IdentityLevels${name}")

    source = env.from_source(
        kafka_source(
            settings,
            topic(settings.topic_prefix, "unified.actions"),
            group_id=client_name(settings, NAME),
            j_deserializer=java("RoutedRecords")(),
        ),
        WatermarkStrategy.no_watermarks(),
        "unified.actions",
    ).uid(f"{NAME}-routed-source")  # not -source: the tenant-keyed job's offsets must not restore here
    options = ActionSettings.from_env()
    registry = load_registry()
    max_parallelism = int(static_settings()["pipeline.max-parallelism"])
    buckets = java_strings(spread_names(min(LEVEL_BUCKETS, max_parallelism), max_parallelism))
    # A delete's forgets go down, to the device keys, so through Kafka: written by the sink below with
    # everything else (transactions), read back committed by the device stage.
    forgets = env.from_source(
        kafka_source(
            settings,
            topic(settings.topic_prefix, "identity.forget"),
            group_id=client_name(settings, NAME),
            j_deserializer=java("RoutedRecords")(FORGET),
        ),
        WatermarkStrategy.no_watermarks(),
        "identity.forget",
    ).uid(f"{NAME}-forget-source")
    topics = [topic(settings.topic_prefix, suffix) for suffix in LEVEL_TOPICS]
    outputs = [*topics, *(f"forward-to-level-{n}" for n in range(len(LEVELS)))]
    forwards: dict[int, list] = {n: [] for n in range(len(LEVELS))}
    to_topics = []
    for n, kind in enumerate(LEVELS):
        inputs = DataStream(source._j_data_stream.filter(java("AtLevel")(n)))
        inputs.uid(f"{NAME}-{kind}-routed").name(f"{kind} records")
        j_inputs = inputs._j_data_stream
        if n == 0:  # device keys
            j_inputs = j_inputs.union(_one(gateway, forgets._j_data_stream))
        for forwarded in forwards[n]:
            j_inputs = j_inputs.union(_one(gateway, forwarded))
        bucket_type = Types.ROW([Types.STRING()]).get_java_type_info()
        j_batches = j_inputs.keyBy(java("Bucket")(buckets), bucket_type).process(
            jvm.headwater.flink.TenantBatches(options.batch_records, options.batch_delay_ms)
        )
        batches = DataStream(j_batches).uid(f"{NAME}-{kind}-batches").name(f"{kind} batches")
        j_keyed = j_batches.keyBy(jvm.KeyByKeySelector(), bucket_type)
        stage = (
            KeyedStream(j_keyed, Types.PRIMITIVE_ARRAY(Types.BYTE()), batches)
            .process(LevelStage(n, registry, options), output_type=frame_type())
            .uid(f"{NAME}-{kind}-keys")
            .name(f"{kind} keys")
        )
        rows = split_frames(stage, outputs, uid=f"{NAME}-{kind}-split")._j_data_stream
        to_topics.append(_named(rows.filter(java("ToTopics")(FORWARD_BASE)), f"{NAME}-{kind}-to-topics", "to topics"))
        for above, stronger in list(enumerate(LEVELS))[n + 1 :]:
            forwarded = rows.flatMap(java("ForwardedTo")(FORWARD_BASE + above))
            forwards[above].append(_named(forwarded, f"{NAME}-{kind}-to-{stronger}", f"forward to {stronger}"))
    j_records = to_topics[0]
    for more in to_topics[1:]:
        j_records = j_records.union(_one(gateway, more))
    records_exactly_once_sink(
        DataStream(j_records), settings, topics, transactional_id_prefix=client_name(settings, NAME), uid=f"{NAME}-sink"
    )


def _named(j_stream, uid: str, name: str):
    return j_stream.uid(uid).name(name)


def _one(gateway, j_stream):
    """A one-element Java array of a DataStream (DataStream.union takes varargs)."""
    array = gateway.new_array(gateway.jvm.org.apache.flink.streaming.api.datastream.DataStream, 1)
    array[0] = j_stream
    return array
