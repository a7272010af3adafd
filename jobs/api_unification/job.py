"""api-unification: the four ingest topics -> validated, consolidated `hw.unified.actions` (+ `hw.rejected`).

Wiring only (operators: operators.py; rules: this package's other modules; docs/api-unification.md):
  per source: KafkaSource (raw bytes, read_committed) -> UnifyMessages (every message rule, on every subtask)
  proposals of new names and types (all sources) -> key by tenant -> SchemaArbiter -> broadcast ─┐
  actions (all sources) -> key by user ─────────────────────────────────────────────> SchemaGate ┴> frames
      -> one exactly-once sink: unified.actions + the gate's refusals to hw.rejected
  the per-source refusals -> side output -> exactly-once sink to hw.rejected
"""

from __future__ import annotations

from pyflink.common import Types, WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment

from common.config import Settings
from common.flink import uids
from common.flink.kafka import client_name, exactly_once_sink, frame_type, framed_exactly_once_sink, kafka_source
from common.topics import topic
from jobs.api_unification.operators import (
    GATE_OUTPUTS,
    PROPOSALS,
    REJECTED,
    SCHEMA_VIEW,
    TENANT_AND_JSON,
    UNIFIED,
    SchemaArbiter,
    SchemaGate,
    UnifyMessages,
)
from jobs.api_unification.settings import UnificationSettings
from jobs.api_unification.sources import SOURCES

NAME = "api-unification"


def build(env: StreamExecutionEnvironment, settings: Settings) -> None:
    options = UnificationSettings.from_env()
    registry = options.registry()
    actions, proposals, rejected = [], [], []
    for source in SOURCES:
        ingest = topic(settings.topic_prefix, f"ingest.{source}")
        unified = (
            env.from_source(
                kafka_source(settings, ingest, group_id=client_name(settings, NAME), raw_bytes=True),
                WatermarkStrategy.no_watermarks(),
                f"ingest.{source}",
            )
            .uid(f"{NAME}-source-{source}")
            .process(UnifyMessages(source, registry, options), output_type=UNIFIED)
            .uid(f"{NAME}-unify-{source}")
            .name(f"unify {source}")
        )
        actions.append(unified)
        proposals.append(unified.get_side_output(PROPOSALS).uid(f"{NAME}-proposals-{source}"))
        rejected.append(unified.get_side_output(REJECTED).uid(f"{NAME}-rejected-{source}"))
    decisions = (
        uids.key_by(
            proposals[0].union(*proposals[1:]), lambda proposal: proposal[0], Types.STRING(), f"{NAME}-key-by-tenant"
        )
        .process(SchemaArbiter(registry), output_type=TENANT_AND_JSON)
        .uid(f"{NAME}-tenant-schema")  # 0.2's uid, key and state: its savepoints keep the learned schemas
        .name("schema arbiter (per tenant)")
        .broadcast(SCHEMA_VIEW)
    )
    gated = (
        uids.key_by(actions[0].union(*actions[1:]), lambda action: action[0], Types.STRING(), f"{NAME}-key-by-user")
        .connect(decisions)
        .process(SchemaGate(registry, options), output_type=frame_type())
        .uid(f"{NAME}-schema-gate")
        .name("schema gate (per user)")
    )
    framed_exactly_once_sink(
        gated,
        settings,
        [topic(settings.topic_prefix, suffix) for suffix in GATE_OUTPUTS],
        transactional_id_prefix=client_name(settings, NAME, "actions"),
        uid=f"{NAME}-actions-sink",
    )
    (
        rejected[0]
        .union(*rejected[1:])
        .sink_to(
            exactly_once_sink(
                settings,
                topic(settings.topic_prefix, "rejected"),
                transactional_id_prefix=client_name(settings, NAME, "rejected"),
            )
        )
        .uid(f"{NAME}-rejected-sink")
        .name("exactly-once sink to rejected")
    )
