"""api-unification: the four ingest topics -> validated, consolidated `hw.unified.actions` (+ `hw.rejected`).

Wiring only (rules are in this package's other modules):
  per source: KafkaSource (raw bytes, read_committed) -> RouteByTenant (size, JSON, tenant)
  union -> key by tenant -> TenantSchemaGate (all rules, per-tenant schema in keyed state) -> keyed exactly-once sink
  every refusal, from either stage -> side output -> exactly-once sink to hw.rejected
"""

from __future__ import annotations

from pyflink.common import Row, Types, WatermarkStrategy
from pyflink.datastream import KeyedProcessFunction, OutputTag, ProcessFunction, StreamExecutionEnvironment
from pyflink.datastream.state import ValueStateDescriptor

from common.config import Settings
from common.flink import uids
from common.flink.kafka import exactly_once_sink, kafka_source, keyed_record_type
from common.serde.avro import AvroCodec
from common.topics import topic
from jobs.api_unification.output import encode_action, encode_rejection
from jobs.api_unification.sources import SOURCES
from jobs.api_unification.tenant_schema import TenantSchema
from jobs.api_unification.tenants import TenantRegistry, load_registry
from jobs.api_unification.unify import Outcome, tenant_of, unify

NAME = "api-unification"
BYTES = Types.PRIMITIVE_ARRAY(Types.BYTE())
REJECTED = OutputTag("rejected", BYTES)


class _Rejecting:
    """Shared by both stages: encode refusals to the side output and count them by reason."""

    def _open_rejecting(self, runtime_context):
        self.codec = AvroCodec()
        self.metrics = runtime_context.get_metrics_group()
        self.reason_counters = {}

    def _rejections(self, outcome: Outcome, rejections):
        for rejection in rejections:
            counter = self.reason_counters.get(rejection.reason)
            if counter is None:
                counter = self.metrics.add_group("reason", rejection.reason.value).counter("rejected")
                self.reason_counters[rejection.reason] = counter
            counter.inc()
            yield REJECTED, encode_rejection(
                self.codec, rejection, source=outcome.source, tenant=outcome.tenant,
                message_id=outcome.message_id, arrival_ms=outcome.arrival_ms, original=outcome.raw)


class RouteByTenant(ProcessFunction, _Rejecting):
    """Per source: the envelope rules (size, JSON, tenant). Refusals go out here; the rest is passed on
    as (tenant, source, raw bytes) — plain types Flink serialises cheaply, where pickling the parsed
    message cost more than parsing it again."""

    def __init__(self, source: str, registry: TenantRegistry):
        self.source = source
        self.registry = registry

    def open(self, runtime_context):
        self._open_rejecting(runtime_context)
        self.messages = self.metrics.counter(f"messages_{self.source}")

    def process_element(self, value, ctx):
        self.messages.inc()
        raw = bytes(value)
        outcome = tenant_of(self.source, raw, self.registry)
        if outcome.tenant is None:
            outcome.arrival_ms = ctx.timestamp() or 0
            yield from self._rejections(outcome, outcome.rejections)
        else:
            yield outcome.tenant, self.source, raw


class TenantSchemaGate(KeyedProcessFunction, _Rejecting):
    """Keyed by tenant: all message rules (unify), then first-type-wins and distinct-name limits against
    the tenant's schema in state.

    The state value is the whole TenantSchema (one state read per tenant after a start, one write only
    when the schema learns something); a read-through cache spares the per-record state access, and is
    exact because only this subtask owns the tenant's key."""

    def __init__(self, registry: TenantRegistry):
        self.registry = registry

    def open(self, runtime_context):
        self._open_rejecting(runtime_context)
        self.schema_state = runtime_context.get_state(ValueStateDescriptor("tenant_schema", Types.PICKLED_BYTE_ARRAY()))
        self.cache: dict[str, TenantSchema] = {}
        self.events_accepted = self.metrics.counter("events_accepted")
        self.properties_dropped = self.metrics.counter("properties_dropped")

    def process_element(self, value, ctx):
        tenant, source, raw = value
        # Arrival time = the Kafka record's timestamp, carried with the element (replay-stable).
        outcome = unify(source, raw, ctx.timestamp() or 0, self.registry)
        yield from self._rejections(outcome, outcome.rejections)
        if outcome.action is None:
            return
        schema = self.cache.get(tenant)
        if schema is None:
            schema = self.schema_state.value() or TenantSchema()
            self.cache[tenant] = schema
        action = outcome.action
        rejections, changed = schema.admit(action, self.registry.get(tenant))
        if changed:
            self.schema_state.update(schema)
        yield from self._rejections(outcome, rejections)
        self.events_accepted.inc(len(action.events))
        self.properties_dropped.inc(len(action.dropped))
        key, encoded = encode_action(self.codec, action, outcome.arrival_ms)
        yield Row(key, encoded)


def build(env: StreamExecutionEnvironment, settings: Settings) -> None:
    registry = load_registry()
    routed = Types.TUPLE([Types.STRING(), Types.STRING(), BYTES])
    outcomes, rejected = None, []
    for source in SOURCES:
        ingest = topic(settings.topic_prefix, f"ingest.{source}")
        unified = (
            env.from_source(kafka_source(settings, ingest, group_id=f"headwater-{NAME}", raw_bytes=True),
                            WatermarkStrategy.no_watermarks(), f"ingest.{source}")
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
    (gated.sink_to(exactly_once_sink(settings, topic(settings.topic_prefix, "unified.actions"),
                                     transactional_id_prefix=f"headwater-{NAME}-actions", keyed=True))
     .uid(f"{NAME}-actions-sink").name("exactly-once sink to unified.actions"))
    all_rejected = rejected[0].union(*rejected[1:])
    (all_rejected.sink_to(exactly_once_sink(settings, topic(settings.topic_prefix, "rejected"),
                                            transactional_id_prefix=f"headwater-{NAME}-rejected"))
     .uid(f"{NAME}-rejected-sink").name("exactly-once sink to rejected"))
