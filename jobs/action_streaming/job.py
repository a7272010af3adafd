"""action-streaming: `hw.unified.actions` -> identity + per-user state (RocksDB) -> deltas, enriched events, profiles.

Wiring only (the logic is jobs/action_streaming/process.py, see docs/identity.md):
  KafkaSource (read_committed) -> key by tenant (peeked from the Avro bytes) -> ResolveAndFold
  -> deltas to hw.state.deltas, events to hw.events.enriched, profiles to hw.identity.profiles,
     each through its own keyed exactly-once sink.
"""

from __future__ import annotations

import os

from pyflink.common import Row, Types, WatermarkStrategy
from pyflink.datastream import KeyedProcessFunction, OutputTag, StreamExecutionEnvironment
from pyflink.datastream.state import MapStateDescriptor

from common.config import Settings
from common.flink.kafka import exactly_once_sink, kafka_source, keyed_record_type
from common.serde.avro import AvroCodec
from common.serde.peek import first_string
from common.topics import topic
from jobs.action_streaming.output import encode_delta, encode_event, encode_profile
from jobs.action_streaming.process import process_action
from jobs.action_streaming.records import action_from_record
from jobs.api_unification.tenants import TenantRegistry, load_registry

NAME = "action-streaming"
EVENTS = OutputTag("events", keyed_record_type())
PROFILES = OutputTag("profiles", keyed_record_type())


def snapshot_attributes() -> tuple[str, ...] | None:
    """HEADWATER_ENRICH_ATTRIBUTES (comma-separated) chooses the attributes copied onto enriched
    events; unset, all of them."""
    chosen = os.environ.get("HEADWATER_ENRICH_ATTRIBUTES")
    return tuple(a.strip() for a in chosen.split(",") if a.strip()) if chosen else None


class _MapStateTenant:
    """TenantState over the operator's keyed MapStates (the current key is the tenant)."""

    def __init__(self, index, users, devices):
        self.index, self.users, self.devices = index, users, devices

    def index_get(self, key): return self.index.get(key)
    def index_put(self, key, user_id): self.index.put(key, user_id)
    def index_remove(self, key): self.index.remove(key)
    def user_get(self, user_id): return self.users.get(user_id)
    def user_put(self, state): self.users.put(state.identity.user_id, state)
    def user_remove(self, user_id): self.users.remove(user_id)
    def device_get(self, device_id): return self.devices.get(device_id)
    def device_put(self, state): self.devices.put(state.device_id, state)


class ResolveAndFold(KeyedProcessFunction):
    def __init__(self, registry: TenantRegistry, snapshot: tuple[str, ...] | None):
        self.registry = registry
        self.snapshot = snapshot

    def open(self, runtime_context):
        self.codec = AvroCodec()
        pickled = Types.PICKLED_BYTE_ARRAY()
        self.state = _MapStateTenant(
            runtime_context.get_map_state(MapStateDescriptor("identity_index", Types.STRING(), Types.STRING())),
            runtime_context.get_map_state(MapStateDescriptor("users", Types.STRING(), pickled)),
            runtime_context.get_map_state(MapStateDescriptor("devices", Types.STRING(), pickled)),
        )
        metrics = runtime_context.get_metrics_group()
        self.counters = {name: metrics.counter(name) for name in ("messages", "events", "deltas", "merges", "conflicts", "capped")}

    def process_element(self, value, ctx):
        action = action_from_record(self.codec.decode(bytes(value), "unified_action"))
        policy = self.registry.get(action.tenant)
        cap = policy.limits.max_identifiers_per_user if policy else 50
        out = process_action(self.state, action, cap, self.snapshot)
        for name, n in (("messages", 1), ("events", len(out.events)), ("deltas", len(out.deltas)),
                        ("merges", out.merges), ("conflicts", out.conflicts), ("capped", out.capped)):
            self.counters[name].inc(n)
        tenant = action.tenant
        for delta in out.deltas:
            yield Row(*encode_delta(self.codec, tenant, action.message_id, delta))
        for user_id, index, event, snapshot in out.events:
            yield EVENTS, Row(*encode_event(self.codec, tenant, user_id, action.message_id, index, event, snapshot))
        for identity, merged_into, deleted in out.profiles:
            yield PROFILES, Row(*encode_profile(self.codec, tenant, identity, merged_into=merged_into, deleted=deleted))


def build(env: StreamExecutionEnvironment, settings: Settings) -> None:
    source = topic(settings.topic_prefix, "unified.actions")
    folded = (
        env.from_source(kafka_source(settings, source, group_id=f"headwater-{NAME}", raw_bytes=True),
                        WatermarkStrategy.no_watermarks(), "unified.actions")
        .uid(f"{NAME}-source")
        .key_by(lambda raw: first_string(bytes(raw)), key_type=Types.STRING())
        .process(ResolveAndFold(load_registry(), snapshot_attributes()), output_type=keyed_record_type())
        .uid(f"{NAME}-resolve-and-fold")
        .name("identity, user and device state")
    )
    for stream, suffix in ((folded, "state.deltas"), (folded.get_side_output(EVENTS), "events.enriched"),
                           (folded.get_side_output(PROFILES), "identity.profiles")):
        (stream.sink_to(exactly_once_sink(settings, topic(settings.topic_prefix, suffix),
                                          transactional_id_prefix=f"headwater-{NAME}-{suffix}", keyed=True))
         .uid(f"{NAME}-sink-{suffix}").name(f"exactly-once sink to {suffix}"))
