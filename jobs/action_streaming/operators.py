"""action-streaming's operator: keyed state for identities, users and devices (RocksDB MapStates), and
one call of the rules (process.py) per unified action; its outputs leave as one frame."""

from __future__ import annotations

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction
from pyflink.datastream.state import MapStateDescriptor

from common.contracts.tenants import TenantRegistry
from common.serde import frames
from common.serde.avro import AvroCodec
from jobs.action_streaming.process import process_action
from jobs.action_streaming.records import (
    DELTAS,
    EVENTS,
    PROFILES,
    REJECTED,
    UNREADABLE,
    decode_action,
    encode_delta,
    encode_event,
    encode_profile,
    encode_unreadable,
)
from jobs.action_streaming.state_codec import pack_device, pack_user, unpack_device, unpack_user

# State names are part of every savepoint: renaming one loses what it held (tests/unit/test_state_layouts.py).
IDENTITY_INDEX = MapStateDescriptor("identity_index", Types.STRING(), Types.STRING())
USERS = MapStateDescriptor("users", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
DEVICES = MapStateDescriptor("devices", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
DEFAULT_IDENTIFIER_CAP = 50  # for a tenant missing from the registry (api-unification refuses those)


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


class ResolveAndFold(KeyedProcessFunction):
    def __init__(self, registry: TenantRegistry, snapshot: tuple[str, ...] | None):
        self.registry = registry
        self.snapshot = snapshot

    def open(self, runtime_context):
        self.codec = AvroCodec()
        self.state = _MapStateTenant(
            runtime_context.get_map_state(IDENTITY_INDEX),
            runtime_context.get_map_state(USERS),
            runtime_context.get_map_state(DEVICES),
        )
        metrics = runtime_context.get_metrics_group()
        self.counters = {
            name: metrics.counter(name)
            for name in ("messages", "events", "deltas", "merges", "conflicts", "capped", "unreadable")
        }

    def process_element(self, value, ctx):
        raw = bytes(value)
        try:
            action = decode_action(self.codec, raw)
        except UNREADABLE as exc:  # refused with its bytes, never a crash loop (job.py keys it apart)
            self.counters["unreadable"].inc()
            yield frames.pack([(REJECTED, *encode_unreadable(self.codec, raw, str(exc), ctx.timestamp() or 0))])
            return
        self.state.begin()
        policy = self.registry.get(action.tenant)
        cap = policy.limits.max_identifiers_per_user if policy else DEFAULT_IDENTIFIER_CAP
        out = process_action(self.state, action, cap, self.snapshot)
        for name, n in (
            ("messages", 1),
            ("events", len(out.events)),
            ("deltas", len(out.deltas)),
            ("merges", out.merges),
            ("conflicts", out.conflicts),
            ("capped", out.capped),
        ):
            self.counters[name].inc(n)
        tenant, codec, message_id = action.tenant, self.codec, action.message_id
        records = [(DELTAS, *encode_delta(codec, tenant, message_id, d)) for d in out.deltas]
        records += [
            (EVENTS, *encode_event(codec, tenant, user_id, message_id, index, event, snapshot))
            for user_id, index, event, snapshot in out.events
        ]
        for identity, merged_into, deleted in out.profiles:
            records += [(PROFILES, *r) for r in encode_profile(codec, tenant, identity, merged_into, deleted)]
        if records:
            yield frames.pack(records)
