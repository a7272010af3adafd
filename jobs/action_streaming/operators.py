"""action-streaming's operator: keyed state for identities, users and devices (RocksDB MapStates, read
through a bounded cache), and one call of the rules (process.py) per unified action; actions arrive in
per-tenant batches and their outputs leave in frames, so the Python -> JVM crossing is paid per batch."""

from __future__ import annotations

import time

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction
from pyflink.datastream.state import MapStateDescriptor

from common.contracts.tenants import TenantRegistry
from common.flink.batches import record_time
from common.flink.map_state_cache import CachedMapState
from common.flink.shipped_code import ShippedFunction
from common.metrics import BatchedCounters, LatencyWindow, PushedGauges, register_freshness
from common.serde import frames
from common.serde.avro import AvroCodec
from common.serde.fast_avro import DeltaEncoder, EnrichedEncoder
from jobs.action_streaming.process import process_action
from jobs.action_streaming.records import (
    DELTAS,
    EVENTS,
    PROFILES,
    REJECTED,
    UNREADABLE,
    decode_action,
    encode_delta,
    encode_events,
    encode_profile,
    encode_unreadable,
)
from jobs.action_streaming.settings import ActionSettings
from jobs.action_streaming.state_codec import pack_device, pack_user, unpack_device, unpack_user

# State names are part of every savepoint: renaming one loses what it held (tests/unit/test_state_layouts.py).
IDENTITY_INDEX = MapStateDescriptor("identity_index", Types.STRING(), Types.STRING())
USERS = MapStateDescriptor("users", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
DEVICES = MapStateDescriptor("devices", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
DEFAULT_IDENTIFIER_CAP = 50  # for a tenant missing from the registry (api-unification refuses those)


class _MapStateTenant:
    """TenantState over the operator's keyed MapStates (the current key is the tenant).

    Each MapState sits behind a bounded read cache whose writes reach the state in one `put_all` per
    batch (common/flink/map_state_cache.py): a MapState call crosses into the JVM and RocksDB, and one
    message used to make a dozen. Users and devices are cached as stored (tuples, state_codec.py); the
    objects unpacked from them during one message are remembered until the next (`begin_message`), as
    the rules read a user more than once. The rules never change a state object in place (they copy:
    identity._copy, apply_user, apply_device), so the cached tuples stay what was written."""

    def __init__(self, index, users, devices, capacity: int):
        self.index = CachedMapState(index, capacity)
        self.users = CachedMapState(users, capacity)
        self.devices = CachedMapState(devices, capacity)
        self._users, self._devices = {}, {}

    def begin_batch(self, tenant: str) -> None:
        for state in (self.index, self.users, self.devices):
            state.begin(tenant)

    def begin_message(self) -> None:
        self._users.clear()
        self._devices.clear()

    def flush(self) -> None:
        for state in (self.index, self.users, self.devices):
            state.flush()

    def index_get(self, key):
        return self.index.get(key)

    def index_put(self, key, user_id):
        self.index.put(key, user_id)

    def index_remove(self, key):
        self.index.remove(key)

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

    def device_remove(self, device_id):
        self._devices[device_id] = None
        self.devices.remove(device_id)


COUNTERS = ("messages", "events", "deltas", "merges", "conflicts", "capped", "unreadable")


class ResolveAndFold(ShippedFunction, KeyedProcessFunction):
    """Elements: batches of one tenant's raw actions, in arrival order, each with its Kafka timestamp
    (common/flink/batches.py); the outputs of a batch leave in frames of `frame_records` records."""

    def __init__(self, registry: TenantRegistry, snapshot: tuple[str, ...] | None, options: ActionSettings):
        self.registry = registry
        self.snapshot = snapshot
        self.options = options

    def open(self, runtime_context):
        self.codec = AvroCodec()
        self.delta_encoder = DeltaEncoder(self.codec)
        self.enriched = EnrichedEncoder(self.codec)
        self.state = _MapStateTenant(
            runtime_context.get_map_state(IDENTITY_INDEX),
            runtime_context.get_map_state(USERS),
            runtime_context.get_map_state(DEVICES),
            self.options.state_cache,
        )
        metrics = runtime_context.get_metrics_group()
        self.counters = BatchedCounters(metrics, COUNTERS)
        self.counts = self.counters.pending
        self.freshness = LatencyWindow()
        self.gauges = PushedGauges(metrics)
        register_freshness(self.gauges, self.freshness)

    def process_element(self, value, ctx):
        self.state.begin_batch(ctx.get_current_key())
        batch_time = ctx.timestamp() or 0
        now_ms = time.time() * 1000
        arrivals = [(raw, record_time(key, batch_time)) for _output, key, raw in frames.unpack(bytes(value))]
        self.freshness.extend(now_ms - arrival_ms for _raw, arrival_ms in arrivals)
        records = (record for raw, arrival_ms in arrivals for record in self._one(raw, arrival_ms))
        yield from frames.framed(records, self.options.frame_records)
        self.state.flush()
        self.counters.flush()
        self.gauges.push()

    def _one(self, raw: bytes, arrival_ms: int):
        counts = self.counts
        try:
            action = decode_action(self.codec, raw)
        except UNREADABLE as exc:  # refused with its bytes, never a crash loop (job.py keys it apart)
            counts["unreadable"] += 1
            yield (REJECTED, *encode_unreadable(self.codec, raw, str(exc), arrival_ms), arrival_ms)
            return
        self.state.begin_message()
        policy = self.registry.get(action.tenant)
        cap = policy.limits.max_identifiers_per_user if policy else DEFAULT_IDENTIFIER_CAP
        out = process_action(self.state, action, cap, self.snapshot)
        counts["messages"] += 1
        counts["events"] += len(out.events)
        counts["deltas"] += len(out.deltas)
        counts["merges"] += out.merges
        counts["conflicts"] += out.conflicts
        counts["capped"] += out.capped
        tenant, codec, message_id = action.tenant, self.codec, action.message_id
        # Every output carries the ingest record's Kafka timestamp (frames.py): freshness downstream.
        for d in out.deltas:
            yield (DELTAS, *encode_delta(self.delta_encoder, tenant, message_id, d), arrival_ms)
        for key, value in encode_events(self.enriched, tenant, message_id, out.events):
            yield (EVENTS, key, value, arrival_ms)
        for identity, merged_into, deleted in out.profiles:
            for key, value in encode_profile(codec, tenant, identity, merged_into, deleted):
                yield (PROFILES, key, value, arrival_ms)
