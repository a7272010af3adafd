"""audience-computation: enriched events, identity profiles and audience definitions -> each user's
audience memberships -> profile computation messages on hw.compute.output (docs/audiences.md).

Wiring only (operator: operators.py; rules: memberships.py, conditions.py, definitions.py):
  KafkaSource(hw.events.enriched + hw.identity.profiles + hw.audiences.handovers) ─┐
  KafkaSource(hw.audiences.config, read whole) -> copied to every bucket (Java) ────┴> per-bucket
  batches (Java) -> AudienceMemberships -> frames -> one exactly-once sink: hw.compute.output,
  hw.audiences.handovers (read back by the first source), hw.rejected

Keyed by a bucket of (tenant, user) (HEADWATER_AUDIENCE_BUCKETS; UserBuckets.java), so one tenant
spreads over every subtask. When a user is merged into another, which may sit in another bucket, it
hands what it kept over through hw.audiences.handovers.
"""

from __future__ import annotations

from pyflink.common import WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.data_stream import DataStream
from pyflink.java_gateway import get_gateway

from common.config import Settings
from common.flink.batches import Timestamps, keyed_batches
from common.flink.kafka import client_name, frame_type, framed_exactly_once_sink, java_strings, kafka_source
from common.flink.keys import spread_names
from common.flink.settings import static_settings
from common.flink.uids import bucketed_uid
from common.kafka.snapshot import read_to_end
from common.serde.avro import AvroCodec, SerdeError
from common.topics import topic
from jobs.audience_computation.definitions import config_key, digest
from jobs.audience_computation.operators import NAME, AudienceMemberships
from jobs.audience_computation.records import INPUTS, OUTPUTS
from jobs.audience_computation.settings import AudienceSettings

__all__ = ["NAME", "OUTPUTS", "build"]


def judge_uid(buckets: int) -> str:
    return bucketed_uid(NAME, "judge", buckets)


def batches_uid(buckets: int) -> str:
    return bucketed_uid(NAME, "batches", buckets)


def definitions_snapshot(settings: Settings, codec: AvroCodec) -> list[tuple[dict, str]]:
    """The latest record per key of hw.audiences.config now, with its digest (definitions.py)."""
    latest: dict[str, tuple[dict, str]] = {}
    for _topic, _key, raw in read_to_end(settings, [topic(settings.topic_prefix, "audiences.config")]):
        if raw is None:
            continue
        try:
            record = codec.decode(raw)
            latest[config_key(record)] = (record, digest(raw))
        except (SerdeError, KeyError):
            continue  # the job reports it when its bucket 0 reads it
    return list(latest.values())


def partition_count(settings: Settings, name: str) -> int:
    """How many partitions the topic has: a bucket's clock waits for an event from each."""
    from common.kafka.admin import admin_client

    return len(admin_client(settings).list_topics(name, timeout=30).topics[name].partitions)


def build(env: StreamExecutionEnvironment, settings: Settings) -> None:
    options = AudienceSettings.from_env()
    codec = AvroCodec()
    gateway = get_gateway()
    flink = gateway.jvm.headwater.flink
    enriched = topic(settings.topic_prefix, "events.enriched")
    records = env.from_source(
        kafka_source(
            settings,
            [topic(settings.topic_prefix, s) for s in INPUTS],
            client_name(settings, NAME),
            j_deserializer=getattr(flink, "UserBuckets$Values")(enriched),  # enriched events with their partition
        ),
        WatermarkStrategy.no_watermarks(),
        " + ".join(INPUTS),
    ).uid(f"{NAME}-source")
    config = env.from_source(
        kafka_source(
            settings,
            topic(settings.topic_prefix, "audiences.config"),
            client_name(settings, NAME, "config"),
            raw_bytes=True,
            compacted=True,
        ),
        WatermarkStrategy.no_watermarks(),
        "audiences.config",
    ).uid(f"{NAME}-config-source")
    definition = b"\xc3\x01" + codec.registry.current("audience_definition").fingerprint
    copied = DataStream(
        config._j_data_stream.flatMap(getattr(flink, "UserBuckets$Everywhere")(definition, options.buckets))
    )
    copied.uid(f"{NAME}-definitions-everywhere").name("definitions to every bucket")
    max_parallelism = int(static_settings()["pipeline.max-parallelism"])
    names = java_strings(spread_names(options.buckets, max_parallelism))
    batches = keyed_batches(
        records.union(copied),
        getattr(flink, "UserBuckets$Key")(names),
        options.batch_records,
        options.batch_delay_ms,
        uid=batches_uid(options.buckets),
        timestamps=Timestamps.BESIDE,
        what=f"per-bucket batches of {options.buckets} (tenant, user) buckets",
    )
    judged = (
        batches.process(
            AudienceMemberships(options, definitions_snapshot(settings, codec), partition_count(settings, enriched)),
            output_type=frame_type(),
        )
        .uid(judge_uid(options.buckets))
        .name("audience memberships")
    )
    framed_exactly_once_sink(
        judged,
        settings,
        [topic(settings.topic_prefix, suffix) for suffix in OUTPUTS],
        transactional_id_prefix=client_name(settings, NAME),
        uid=f"{NAME}-sink",
    )
