"""action-streaming: `hw.unified.actions` -> identity + per-user state (RocksDB) -> deltas, enriched events, profiles.

Wiring only (the logic is jobs/action_streaming/process.py, see docs/identity.md):
  KafkaSource (read_committed) -> key by tenant (peeked from the Avro bytes) -> ResolveAndFold
  -> one frame per message (common/serde/frames.py) -> split in Java -> one exactly-once sink that
     writes deltas to hw.state.deltas, events to hw.events.enriched, profiles to hw.identity.profiles.

A message yields about a dozen records (10 events, deltas, a profile); emitting them as one frame
pays the Python -> JVM crossing once per message instead of once per record.
"""

from __future__ import annotations

import os

from pyflink.common import Types, WatermarkStrategy
from pyflink.datastream import KeyedProcessFunction, StreamExecutionEnvironment
from pyflink.datastream.state import MapStateDescriptor

from common.config import Settings
from common.flink import uids
from common.flink.kafka import frame_type, framed_exactly_once_sink, kafka_source
from common.serde import frames
from common.serde.avro import AvroCodec
from common.serde.peek import first_string
from common.topics import topic
from jobs.action_streaming.output import encode_delta, encode_event, encode_profile
from jobs.action_streaming.process import process_action
from jobs.action_streaming.records import action_from_record
from jobs.action_streaming.state_codec import pack_device, pack_user, unpack_device, unpack_user
from jobs.api_unification.tenants import TenantRegistry, load_registry

NAME = "action-streaming"
OUTPUTS = ("state.deltas", "events.enriched", "identity.profiles")  # frame output index -> topic suffix
DELTAS, EVENTS, PROFILES = range(len(OUTPUTS))


def snapshot_attributes() -> tuple[str, ...] | None:
    """HEADWATER_ENRICH_ATTRIBUTES (comma-separated) chooses the attributes copied onto enriched
    events; unset, all of them."""
    chosen = os.environ.get("HEADWATER_ENRICH_ATTRIBUTES")
    return tuple(a.strip() for a in chosen.split(",") if a.strip()) if chosen else None


class _MapStateTenant:
    """TenantState over the operator's keyed MapStates (the current key is the tenant). Users and
    devices are stored as tuples (state_codec.py).

    Users and devices read during one message are remembered until the next (`begin`): each state
    read is a JVM round trip plus an unpickle, and one message reads its user more than once.
    Writes go straight to state, so nothing is held across messages or checkpoints."""

    def __init__(self, index, users, devices):
        self.index, self.users, self.devices = index, users, devices
        self._users, self._devices = {}, {}

    def begin(self):
        self._users.clear()
        self._devices.clear()

    def index_get(self, key): return self.index.get(key)
    def index_put(self, key, user_id): self.index.put(key, user_id)
    def index_remove(self, key): self.index.remove(key)

    @staticmethod
    def _read(memo, state, key, unpack):
        if key not in memo:
            stored = state.get(key)
            memo[key] = unpack(stored) if stored is not None else None
        return memo[key]

    def user_get(self, user_id):
        return self._read(self._users, self.users, user_id, unpack_user)

    def user_put(self, state):
        self._users[state.identity.user_id] = state
        self.users.put(state.identity.user_id, pack_user(state))

    def user_remove(self, user_id):
        self._users[user_id] = None
        self.users.remove(user_id)

    def device_get(self, device_id):
        return self._read(self._devices, self.devices, device_id, unpack_device)

    def device_put(self, state):
        self._devices[state.device_id] = state
        self.devices.put(state.device_id, pack_device(state))


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
        self.state.begin()
        policy = self.registry.get(action.tenant)
        cap = policy.limits.max_identifiers_per_user if policy else 50
        out = process_action(self.state, action, cap, self.snapshot)
        for name, n in (("messages", 1), ("events", len(out.events)), ("deltas", len(out.deltas)),
                        ("merges", out.merges), ("conflicts", out.conflicts), ("capped", out.capped)):
            self.counters[name].inc(n)
        tenant, codec, message_id = action.tenant, self.codec, action.message_id
        records = [(DELTAS, *encode_delta(codec, tenant, message_id, d)) for d in out.deltas]
        records += [(EVENTS, *encode_event(codec, tenant, user_id, message_id, index, event, snapshot))
                    for user_id, index, event, snapshot in out.events]
        records += [(PROFILES, *encode_profile(codec, tenant, identity, merged_into=merged_into, deleted=deleted))
                    for identity, merged_into, deleted in out.profiles]
        if records:
            yield frames.pack(records)


def build(env: StreamExecutionEnvironment, settings: Settings) -> None:
    source = topic(settings.topic_prefix, "unified.actions")
    actions = (env.from_source(kafka_source(settings, source, group_id=f"headwater-{NAME}", raw_bytes=True),
                               WatermarkStrategy.no_watermarks(), "unified.actions")
               .uid(f"{NAME}-source"))
    folded = (
        uids.key_by(actions, lambda raw: first_string(bytes(raw)), Types.STRING(), f"{NAME}-key-by-tenant-user")
        .process(ResolveAndFold(load_registry(), snapshot_attributes()), output_type=frame_type())
        .uid(f"{NAME}-resolve-and-fold")
        .name("identity, user and device state")
    )
    framed_exactly_once_sink(folded, settings, [topic(settings.topic_prefix, suffix) for suffix in OUTPUTS],
                             transactional_id_prefix=f"headwater-{NAME}", uid=f"{NAME}-sink")
