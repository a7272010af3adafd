"""api-unification's operators: per source, the envelope rules (size, JSON, tenant); keyed by tenant,
every message rule and the tenant's schema (first type wins, distinct-name limits) in keyed state."""

from __future__ import annotations

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, ProcessFunction
from pyflink.datastream.state import ValueStateDescriptor

from common.contracts.tenants import TenantRegistry
from common.serde.avro import AvroCodec
from jobs.api_unification.records import encode_action, encode_rejection
from jobs.api_unification.tenant_schema import TenantSchema, pack_schema, unpack_schema
from jobs.api_unification.unify import Outcome, tenant_of, unify

# State names are part of every savepoint: renaming one loses what it held (tests/unit/test_state_layouts.py).
TENANT_SCHEMA = ValueStateDescriptor("tenant_schema", Types.PICKLED_BYTE_ARRAY())
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
            yield (
                REJECTED,
                encode_rejection(
                    self.codec,
                    rejection,
                    source=outcome.source,
                    tenant=outcome.tenant,
                    message_id=outcome.message_id,
                    arrival_ms=outcome.arrival_ms,
                    original=outcome.raw,
                ),
            )


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
        self.schema_state = runtime_context.get_state(TENANT_SCHEMA)
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
            schema = unpack_schema(self.schema_state.value())
            self.cache[tenant] = schema
        action = outcome.action
        rejections, changed = schema.admit(action, self.registry.get(tenant))
        if changed:
            self.schema_state.update(pack_schema(schema))
        yield from self._rejections(outcome, rejections)
        self.events_accepted.inc(len(action.events))
        self.properties_dropped.inc(len(action.dropped))
        key, encoded = encode_action(self.codec, action, outcome.arrival_ms)
        yield Row(key, encoded)
