"""api-unification: the four ingest topics -> validated, consolidated `hw.unified.actions` (+ `hw.rejected`).

Wiring only (operators: operators.py; rules: this package's other modules):
  per source: KafkaSource (raw bytes, read_committed) -> RouteByTenant (size, JSON, tenant)
  union -> key by tenant -> TenantSchemaGate (all rules, per-tenant schema in keyed state) -> keyed exactly-once sink
  every refusal, from either stage -> side output -> exactly-once sink to hw.rejected
"""

from __future__ import annotations

from pyflink.common import Types, WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment

from common.config import Settings
from common.flink import uids
from common.flink.kafka import exactly_once_sink, kafka_source, keyed_record_type
from common.topics import topic
from jobs.api_unification.operators import BYTES, REJECTED, RouteByTenant, TenantSchemaGate
from jobs.api_unification.settings import UnificationSettings
from jobs.api_unification.sources import SOURCES

NAME = "api-unification"


def build(env: StreamExecutionEnvironment, settings: Settings) -> None:
    registry = UnificationSettings.from_env().registry()
    routed = Types.TUPLE([Types.STRING(), Types.STRING(), BYTES])
    outcomes, rejected = None, []
    for source in SOURCES:
        ingest = topic(settings.topic_prefix, f"ingest.{source}")
        unified = (
            env.from_source(
                kafka_source(settings, ingest, group_id=f"headwater-{NAME}", raw_bytes=True),
                WatermarkStrategy.no_watermarks(),
                f"ingest.{source}",
            )
            .uid(f"{NAME}-source-{source}")
            .process(RouteByTenant(source, registry), output_type=routed)
            .uid(f"{NAME}-route-{source}")
            .name(f"route {source} by tenant")
        )
        rejected.append(unified.get_side_output(REJECTED).uid(f"{NAME}-rejected-{source}"))
        outcomes = unified if outcomes is None else outcomes.union(unified)
    gated = (
        uids.key_by(outcomes, lambda routed_message: routed_message[0], Types.STRING(), f"{NAME}-key-by-tenant")
        .process(TenantSchemaGate(registry), output_type=keyed_record_type())
        .uid(f"{NAME}-tenant-schema")
        .name("unify, tenant schema and limits")
    )
    rejected.append(gated.get_side_output(REJECTED).uid(f"{NAME}-rejected-tenant-schema"))
    (
        gated.sink_to(
            exactly_once_sink(
                settings,
                topic(settings.topic_prefix, "unified.actions"),
                transactional_id_prefix=f"headwater-{NAME}-actions",
                keyed=True,
            )
        )
        .uid(f"{NAME}-actions-sink")
        .name("exactly-once sink to unified.actions")
    )
    all_rejected = rejected[0].union(*rejected[1:])
    (
        all_rejected.sink_to(
            exactly_once_sink(
                settings, topic(settings.topic_prefix, "rejected"), transactional_id_prefix=f"headwater-{NAME}-rejected"
            )
        )
        .uid(f"{NAME}-rejected-sink")
        .name("exactly-once sink to rejected")
    )
