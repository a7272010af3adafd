"""reaction-streaming: `hw.state.deltas` -> coalesced, version-gated bulk writes to MongoDB (+ `hw.rejected`).

Wiring only (operator: operators.py; when to flush: flushing.py; rules: coalesce.py, requests.py,
batch.py; I/O: writer.py):
  KafkaSource (raw bytes, read_committed) -> key by shard of doc_id (common/flink/keys.py: an even share
  per subtask) -> ApplyDeltas -> MongoDB
  refused deltas -> exactly-once sink to hw.rejected
"""

from __future__ import annotations

from pyflink.common import Types, WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment

from common.config import Settings
from common.flink import uids
from common.flink.kafka import client_name, exactly_once_sink, kafka_source
from common.flink.keys import spread_keys
from common.flink.settings import static_settings
from common.topics import topic
from jobs.reaction_streaming.operators import ApplyDeltas
from jobs.reaction_streaming.records import shard_of
from jobs.reaction_streaming.settings import ReactionSettings

NAME = "reaction-streaming"
BYTES = Types.PRIMITIVE_ARRAY(Types.BYTE())


def apply_uid(shards: int) -> str:
    """The operator's uid names its shard count: its state (pending deltas per shard) only means
    something with the count and the keys it was written with, so a savepoint taken with another count
    fails to restore, clearly, instead of mixing two shardings. (0.1's uid, `reaction-streaming-apply-
    deltas`, had 8 shards on the keys 0..7: CHANGELOG.md says how to move on from it.)"""
    return f"{NAME}-apply-{shards}-shards"


def build(env: StreamExecutionEnvironment, settings: Settings) -> None:
    options = ReactionSettings.from_env()
    shards = options.shards
    # One key per shard, spread so that every subtask gets an equal share at any parallelism <= shards.
    keys = spread_keys(shards, int(static_settings()["pipeline.max-parallelism"]))
    deltas = env.from_source(
        kafka_source(
            settings, topic(settings.topic_prefix, "state.deltas"), group_id=client_name(settings, NAME), raw_bytes=True
        ),
        WatermarkStrategy.no_watermarks(),
        "state.deltas",
    ).uid(f"{NAME}-source")
    refused = (
        uids.key_by(deltas, lambda raw: keys[shard_of(bytes(raw), shards)], Types.INT(), f"{NAME}-key-by-shard")
        .process(ApplyDeltas(settings, options), output_type=BYTES)
        .uid(apply_uid(shards))
        .name("coalesce and write to MongoDB")
    )
    (
        refused.sink_to(
            exactly_once_sink(
                settings,
                topic(settings.topic_prefix, "rejected"),
                transactional_id_prefix=client_name(settings, NAME, "rejected"),
            )
        )
        .uid(f"{NAME}-sink-rejected")
        .name("exactly-once sink to rejected")
    )
