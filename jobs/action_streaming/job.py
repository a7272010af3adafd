"""action-streaming: `hw.unified.actions` -> identity + per-user state (RocksDB) -> deltas, enriched events, profiles.

Wiring only (operator: operators.py; the rules: process.py, see docs/identity.md):
  KafkaSource (read_committed) -> key by tenant (peeked from the Avro bytes) -> ResolveAndFold
  -> one frame per message (common/serde/frames.py) -> split in Java -> one exactly-once sink that
     writes deltas to hw.state.deltas, events to hw.events.enriched, profiles to hw.identity.profiles,
     and records it cannot read to hw.rejected (INVALID_RECORD, with their bytes).

A message yields about a dozen records (10 events, deltas, a profile); emitting them as one frame
pays the Python -> JVM crossing once per message instead of once per record.
"""

from __future__ import annotations

from pyflink.common import Types, WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment

from common.config import Settings
from common.contracts.tenants import load_registry
from common.flink import uids
from common.flink.kafka import client_name, frame_type, framed_exactly_once_sink, kafka_source
from common.serde.avro import SerdeError
from common.serde.peek import first_string
from common.topics import topic
from jobs.action_streaming.operators import ResolveAndFold
from jobs.action_streaming.records import FRAME_TOPICS, OUTPUTS
from jobs.action_streaming.settings import ActionSettings

NAME = "action-streaming"
__all__ = ["NAME", "OUTPUTS", "build"]


UNREADABLE_KEY = ""  # a record whose tenant cannot be peeked: ResolveAndFold refuses it


def tenant_key(raw) -> str:
    """The key selector: the record's tenant, or UNREADABLE_KEY for bytes that are not a readable
    Headwater record (an exception here would fail the source's task and restart it for ever)."""
    try:
        return first_string(bytes(raw))
    except (SerdeError, UnicodeDecodeError):
        return UNREADABLE_KEY


def build(env: StreamExecutionEnvironment, settings: Settings) -> None:
    source = topic(settings.topic_prefix, "unified.actions")
    actions = env.from_source(
        kafka_source(settings, source, group_id=client_name(settings, NAME), raw_bytes=True),
        WatermarkStrategy.no_watermarks(),
        "unified.actions",
    ).uid(f"{NAME}-source")
    folded = (
        uids.key_by(actions, tenant_key, Types.STRING(), f"{NAME}-key-by-tenant-user")
        .process(
            ResolveAndFold(load_registry(), ActionSettings.from_env().snapshot_attributes), output_type=frame_type()
        )
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
