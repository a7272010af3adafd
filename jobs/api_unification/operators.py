"""api-unification's operators (docs/api-unification.md has the picture):

- UnifyMessages, per source, on every subtask: every message rule (unify), the Avro record, the facts
  the message asks of its tenant's schema, and a proposal to the arbiter of the facts this subtask has
  not proposed yet;
- SchemaArbiter, keyed by tenant: decides each proposed fact once (tenant_schema.TenantSchema.decide)
  and sends its decisions to every SchemaGate; it sees only first sightings, so one subtask is plenty;
- SchemaGate, keyed by user (the message's routing key), with the decisions as broadcast state: a
  message whose facts are decided goes out (as it is, or admitted: dropped properties, refused events);
  one with an undecided fact waits, with the later messages of its user behind it.
"""

from __future__ import annotations

import json
import time

from pyflink.common import Types
from pyflink.datastream import KeyedBroadcastProcessFunction, KeyedProcessFunction, OutputTag, ProcessFunction
from pyflink.datastream.state import ListStateDescriptor, MapStateDescriptor, ValueStateDescriptor

from common.contracts.actions import routing_key
from common.contracts.rejections import Reason, Rejection
from common.contracts.tenants import TenantRegistry
from common.flink.parking import ParkingLot
from common.flink.shipped_code import ShippedFunction
from common.metrics import LatencyWindow, PushedGauges, register_freshness
from common.serde import frames
from common.serde.avro import AvroCodec
from jobs.api_unification.records import action_records, encode_action, encode_rejections
from jobs.api_unification.settings import UnificationSettings
from jobs.api_unification.tenant_schema import EVENT, Check, TenantSchema, facts, new_groups, pack_schema, unpack_schema
from jobs.api_unification.unify import Outcome, unify

# State names are part of every savepoint: renaming one loses what it held (tests/unit/test_state_layouts.py).
# The arbiter keeps 0.2's uid, key (the tenant) and state: a 0.2 savepoint restores the learned schemas.
TENANT_SCHEMA = ValueStateDescriptor("tenant_schema", Types.PICKLED_BYTE_ARRAY())
SCHEMA_VIEW = MapStateDescriptor("schema_decisions", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
WAITING = ListStateDescriptor("waiting_for_schema", Types.PICKLED_BYTE_ARRAY())

BYTES = Types.PRIMITIVE_ARRAY(Types.BYTE())
REJECTED = OutputTag("rejected", BYTES)
TENANT_AND_JSON = Types.TUPLE([Types.STRING(), Types.STRING()])
PROPOSALS = OutputTag("schema-proposals", TENANT_AND_JSON)
# (routing key, tenant, source, arrival ms, raw bytes, Kafka key, Avro value, facts as JSON): strings
# Flink can always encode (the routing key is made so; facts are ASCII JSON), whatever the input held.
UNIFIED = Types.TUPLE(
    [Types.STRING(), Types.STRING(), Types.STRING(), Types.LONG(), BYTES, BYTES, BYTES, Types.STRING()]
)
# The gate's outputs, as frames (common/serde/frames.py) of records for these topics, in this order:
# PyFlink drops side outputs yielded from on_timer of a keyed broadcast function, and a waiting
# message leaves from on_timer.
GATE_OUTPUTS = ("unified.actions", "rejected")
ACTIONS_OUTPUT, REJECTED_OUTPUT = 0, 1


class _Rejecting:
    """Shared by the stages that refuse: encode refusals to the side output and count them by reason."""

    def _open_rejecting(self, runtime_context):
        self.codec = AvroCodec()
        self.metrics = runtime_context.get_metrics_group()
        self.reason_counters = {}

    def _rejections(self, outcome: Outcome, rejections):
        """To the REJECTED side output."""
        for encoded in self._encoded_rejections(outcome, rejections):
            yield REJECTED, encoded

    def _encoded_rejections(self, outcome: Outcome, rejections, original_sent: bool = False):
        """Counted one by one; written bounded by the message's size (rejection_budget.py)."""
        for rejection in rejections:
            counter = self.reason_counters.get(rejection.reason)
            if counter is None:
                counter = self.metrics.add_group("reason", rejection.reason.value).counter("rejected")
                self.reason_counters[rejection.reason] = counter
            counter.inc()
        yield from encode_rejections(self.codec, outcome, rejections, original_sent)


class UnifyMessages(ShippedFunction, ProcessFunction, _Rejecting):
    """Per source: every message rule, on whichever subtask reads the record. Refusals go out here; an
    action goes on Avro-encoded (the gate sends it as it is when the schema changes nothing), with its
    raw bytes (for a refusal at the gate) and its facts."""

    def __init__(self, source: str, registry: TenantRegistry, options: UnificationSettings):
        self.source = source
        self.registry = registry
        self.options = options

    def open(self, runtime_context):
        self._open_rejecting(runtime_context)
        self.messages = self.metrics.counter(f"messages_{self.source}")
        self.proposals = self.metrics.counter("schema_proposals")
        self.proposed: dict[str, set] = {}  # tenant -> fact groups proposed since open (bounded: see _seen)
        self.remembered = 0

    def _seen(self, tenant: str) -> set:
        if self.remembered >= self.options.proposals_memo:  # forget: proposing again is harmless
            self.proposed.clear()
            self.remembered = 0
        return self.proposed.setdefault(tenant, set())

    def process_element(self, value, ctx):
        self.messages.inc()
        raw = bytes(value)
        # Arrival time = the Kafka record's timestamp (replay-stable).
        outcome = unify(self.source, raw, ctx.timestamp() or 0, self.registry)
        yield from self._rejections(outcome, outcome.rejections)
        action = outcome.action
        if action is None:
            return
        asked = facts(action)
        seen = self._seen(action.tenant)
        before = len(seen)
        proposal = new_groups(asked, seen)
        if proposal:
            self.remembered += len(seen) - before
            self.proposals.inc()
            yield PROPOSALS, (action.tenant, json.dumps(proposal))
        key, encoded = encode_action(self.codec, action, outcome.arrival_ms)
        yield (
            routing_key(action),
            action.tenant,
            self.source,
            outcome.arrival_ms,
            raw,
            key,
            encoded,
            json.dumps(asked),
        )


class SchemaArbiter(ShippedFunction, KeyedProcessFunction):
    """Keyed by tenant: the one author of the tenant's schema decisions. The state value is the whole
    TenantSchema; a read-through cache is exact because only this subtask owns the tenant's key."""

    def __init__(self, registry: TenantRegistry):
        self.registry = registry

    def open(self, runtime_context):
        self.schema_state = runtime_context.get_state(TENANT_SCHEMA)
        self.cache: dict[str, TenantSchema] = {}
        self.decided = runtime_context.get_metrics_group().counter("schema_decisions")

    def process_element(self, value, ctx):
        tenant, proposal = value
        schema = self.cache.get(tenant)
        if schema is None:
            schema = self.cache[tenant] = unpack_schema(self.schema_state.value())
        decisions, changed = schema.decide(json.loads(proposal), self.registry.get(tenant))
        if changed:
            self.schema_state.update(pack_schema(schema))
        if decisions:
            self.decided.inc(len(decisions))
            yield tenant, json.dumps(decisions)


class SchemaGate(ShippedFunction, KeyedBroadcastProcessFunction, _Rejecting):
    """Keyed by user, the arbiter's decisions as broadcast state (one packed view per tenant, the same
    on every subtask): let a message out once its facts are decided; per user in arrival order."""

    def __init__(self, registry: TenantRegistry, options: UnificationSettings):
        self.registry = registry
        self.options = options

    def open(self, runtime_context):
        self._open_rejecting(runtime_context)
        self.views: dict[str, TenantSchema] = {}
        self.parking = ParkingLot(runtime_context.get_list_state(WAITING), self.options.schema_retry_ms)
        self.events_accepted = self.metrics.counter("events_accepted")
        self.properties_dropped = self.metrics.counter("properties_dropped")
        self.waited = self.metrics.counter("messages_waited_for_schema")
        self.timed_out = self.metrics.counter("schema_waits_timed_out")
        self.freshness = LatencyWindow()
        self.gauges = PushedGauges(self.metrics)
        register_freshness(self.gauges, self.freshness)

    def _view(self, tenant: str, ctx) -> TenantSchema:
        view = self.views.get(tenant)
        if view is None:  # first use since open: the broadcast state holds what was decided before
            view = self.views[tenant] = unpack_schema(ctx.get_broadcast_state(SCHEMA_VIEW).get(tenant))
        return view

    def process_broadcast_element(self, value, ctx):
        tenant, decisions = value
        view = self._view(tenant, ctx)
        view.learn(json.loads(decisions))
        ctx.get_broadcast_state(SCHEMA_VIEW).put(tenant, pack_schema(view))
        return iter(())

    def process_element(self, value, ctx):
        key = value[0]
        checked = None if self.parking.size(key) else self._check(value, ctx)  # behind its user's waiting ones
        if checked is None or checked[0] is Check.WAIT:
            timers = ctx.timer_service()
            self.parking.park(
                key, tuple(value), timers.current_processing_time(), timers.register_processing_time_timer
            )
            self.waited.inc()
            return
        yield from self._out(value, ctx, checked)

    def on_timer(self, timestamp, ctx):
        timers = ctx.timer_service()

        def may_go(record, waited_ms: int) -> bool:
            return waited_ms >= self.options.schema_wait_ms or self._check(record, ctx)[0] is not Check.WAIT

        for record in self.parking.release(
            ctx.get_current_key(), timers.current_processing_time(), may_go, timers.register_processing_time_timer
        ):
            yield from self._out(record, ctx, self._check(record, ctx))

    def _check(self, record, ctx) -> tuple[Check, list]:
        tenant, asked = record[1], json.loads(record[7])
        return self._view(tenant, ctx).check(asked, self.registry.get(tenant)), asked

    def _out(self, record, ctx, checked: tuple[Check, list]):
        """One frame: the action (as it came, or admitted) and any refusals."""
        _route, tenant, source, arrival_ms, raw, key, encoded, _facts = record
        check, asked = checked
        self.freshness.add(time.time() * 1000 - arrival_ms)
        self.gauges.push()
        if check is Check.PASS:
            self.events_accepted.inc(sum(1 for fact in asked if fact[0] == EVENT))
            yield frames.pack(
                (ACTIONS_OUTPUT, k, v, arrival_ms) for k, v in action_records(self.codec, bytes(key), bytes(encoded))
            )
            return
        outcome = unify(source, bytes(raw), arrival_ms, self.registry)  # deterministic: the same action again
        refused = tenant.encode()
        if check is Check.WAIT:  # waited longer than schema_wait_ms
            self.timed_out.inc()
            refusal = Rejection(
                Reason.SCHEMA_UNDECIDED,
                f"waited {self.options.schema_wait_ms} ms for tenant {tenant!r}'s schema to decide a new "
                "event name, attribute or type; send the message again",
            )
            # the rules' refusals of this message (if any) already carried its original bytes
            rejections = self._encoded_rejections(outcome, [refusal], original_sent=bool(outcome.rejections))
            yield frames.pack((REJECTED_OUTPUT, refused, r, arrival_ms) for r in rejections)
            return
        action = outcome.action
        rejections, _ = self._view(tenant, ctx).admit(action, self.registry.get(tenant))
        encoded = self._encoded_rejections(outcome, rejections, original_sent=bool(outcome.rejections))
        records = [(REJECTED_OUTPUT, refused, r, arrival_ms) for r in encoded]
        self.events_accepted.inc(len(action.events))
        self.properties_dropped.inc(len(action.dropped))
        encoded_action = encode_action(self.codec, action, outcome.arrival_ms)
        records += [(ACTIONS_OUTPUT, k, v, arrival_ms) for k, v in action_records(self.codec, *encoded_action)]
        yield frames.pack(records)
