"""action-streaming: `hw.unified.actions` -> identity + per-user state (RocksDB) -> deltas, enriched events, profiles.

Wiring only (operator: operators.py; the rules: process.py, see docs/identity.md):
  KafkaSource (read_committed) -> per-tenant batches, keyed by the tenant peeked from the Avro bytes,
  built in Java (common/flink/batches.py; "" for bytes that are not Avro) -> ResolveAndFold
  -> frames (common/serde/frames.py) -> split in Java -> one exactly-once sink that writes deltas to
     hw.state.deltas, events to hw.events.enriched, profiles to hw.identity.profiles, and records it
     cannot read to hw.rejected (INVALID_RECORD, with their bytes).

A Python operator pays a fixed cost per element it receives and per element it emits, and a message
yields about a dozen records (10 events, deltas, a profile): batches in and frames out pay it per
batch. No Python key selector runs (it would be a Python operator of its own).
"""

from __future__ import annotations

from pyflink.common import WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment

from common.config import Settings
from common.contracts.routing import BY_TENANT, require_routing
from common.contracts.tenants import load_registry
from common.flink.batches import Timestamps, tenant_batches
from common.flink.kafka import client_name, frame_type, framed_exactly_once_sink, kafka_source
from common.topics import topic
from jobs.action_streaming.operators import ResolveAndFold
from jobs.action_streaming.records import FRAME_TOPICS, OUTPUTS
from jobs.action_streaming.settings import ActionSettings

NAME = "action-streaming"
__all__ = ["NAME", "OUTPUTS", "build"]


def build(env: StreamExecutionEnvironment, settings: Settings) -> None:
    require_routing(NAME, BY_TENANT)
    source = topic(settings.topic_prefix, "unified.actions")
    actions = env.from_source(
        kafka_source(settings, source, group_id=client_name(settings, NAME), raw_bytes=True),
        WatermarkStrategy.no_watermarks(),
        "unified.actions",
    ).uid(f"{NAME}-source")
    options = ActionSettings.from_env()
    batches = tenant_batches(
        actions, options.batch_records, options.batch_delay_ms, uid=f"{NAME}-batches", timestamps=Timestamps.INLINE
    )
    folded = (
        batches.process(ResolveAndFold(load_registry(), options.snapshot_attributes, options), output_type=frame_type())
        .uid(f"{NAME}-resolve-and-fold")
        .name("identity, user and device state")
    )
    framed_exactly_once_sink(
        folded,
        settings,
        [topic(settings.topic_prefix, suffix) for suffix in FRAME_TOPICS],
        transactional_id_prefix=client_name(settings, NAME),
        uid=f"{NAME}-sink",
    )
