"""Walking skeleton: `hw.ingest.api` (JSON) -> Avro envelope -> `hw.skeleton.envelopes`, exactly once.

It proves the plumbing every real job stands on: a read_committed Kafka source, a Python operator in
thread mode, RocksDB checkpoints on S3 (MinIO), and a transactional Kafka sink.
"""

from __future__ import annotations

from pyflink.common import Types, WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment

from common.config import Settings
from common.flink.kafka import client_name, exactly_once_sink, kafka_source
from common.topics import topic
from jobs.skeleton.operators import WrapInEnvelope

NAME = "skeleton"


def build(env: StreamExecutionEnvironment, settings: Settings) -> None:
    ingest = topic(settings.topic_prefix, "ingest.api")
    out = topic(settings.topic_prefix, "skeleton.envelopes")
    (
        env.from_source(
            kafka_source(settings, ingest, group_id=client_name(settings, NAME)),
            WatermarkStrategy.no_watermarks(),
            "ingest.api",
        )
        .uid(f"{NAME}-source")
        .map(WrapInEnvelope("api", ingest), output_type=Types.PRIMITIVE_ARRAY(Types.BYTE()))
        .uid(f"{NAME}-wrap")
        .name("wrap in Avro envelope")
        .sink_to(exactly_once_sink(settings, out, transactional_id_prefix=client_name(settings, NAME)))
        .uid(f"{NAME}-sink")
        .name(f"exactly-once sink to {out}")
    )
