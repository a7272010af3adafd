"""One identity level's operator (docs/identity.md): the state of every
identifier key of its level, and one call of the rules (levels.py) per element.

Elements arrive in batches keyed by bucket (IdentityLevels.java: [origin][timestamp][key][payload]):
routed records, forwards, and at the device stage the forgets a delete sends back through Kafka;
the operator's MapState maps each routing key ("tenant|kind:value") of the bucket to its `KeyState`,
read through a bounded cache (common/flink/map_state_cache.py). Outputs leave as frames: outputs
below FORWARD_BASE are Kafka topics (LEVEL_TOPICS), output FORWARD_BASE + level forwards an item to
that level's stage. State and items are packed to tuples of builtins (level_codec.py): no class of this
package is ever in a savepoint.
"""

from __future__ import annotations

import struct
import time

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction
from pyflink.datastream.state import MapStateDescriptor

from common.contracts.actions import action_record
from common.contracts.profiles import profile_key, profile_record
from common.contracts.routing import level, routing_key, seal
from common.contracts.tenants import TenantRegistry
from common.flink.map_state_cache import CachedMapState
from common.flink.shipped_code import ShippedFunction
from common.metrics import BatchedCounters, LatencyWindow, PushedGauges, register_freshness
from common.serde import frames
from common.serde.avro import AvroCodec
from common.serde.fast_avro import DeltaEncoder, EnrichedEncoder
from jobs.action_streaming.level_codec import pack_item, pack_key_state, unpack_item, unpack_key_state
from jobs.action_streaming.levels import COUNTS, Effects, Forget, KeyState, Rules, on_forwarded, on_routed
from jobs.action_streaming.records import (
    DELTAS,
    EVENTS,
    FRAME_TOPICS,
    PROFILES,
    REJECTED,
    UNREADABLE,
    decode_action,
    encode_delta,
    encode_events,
    encode_unreadable,
)
from jobs.action_streaming.settings import ActionSettings

COUNTERS = (*COUNTS, "unreadable")  # what each level's operator counts (docs/metrics.md)

# State names are part of every savepoint (tests/unit/test_state_layouts.py).
# Values: level_codec.pack_key_state bytes (PyFlink pickles them once more: a missing key of a
# PRIMITIVE_ARRAY map state fails in its converter, PICKLED_BYTE_ARRAY answers None).
IDENTIFIERS = MapStateDescriptor("identifiers", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
# Frame outputs: FRAME_TOPICS, then the feedback topic of forgets (it goes down, to device keys, so
# through Kafka), then from FORWARD_BASE on a forward to level (output - FORWARD_BASE).
LEVEL_TOPICS = (*FRAME_TOPICS, "identity.forget")
FORGETS = len(FRAME_TOPICS)
FORWARD_BASE = len(LEVEL_TOPICS)
ROUTED, FORWARDED, FORGET = 0, 1, 2  # an element's origin (IdentityLevels.java)
_ELEMENT = struct.Struct(">BqH")
_FORGET = struct.Struct(">q")  # a forget record's value: the device version its root knew
DEFAULT_IDENTIFIER_CAP = 50


def parse_element(element: bytes) -> tuple[int, int, str, bytes]:
    """(origin, timestamp, routing key, payload) of a stage element (IdentityLevels.java)."""
    origin, timestamp, key_length = _ELEMENT.unpack_from(element)
    start = _ELEMENT.size
    return origin, timestamp, element[start : start + key_length].decode(), element[start + key_length :]


def pack_element(origin: int, timestamp: int, key: str, payload: bytes) -> bytes:
    """The inverse of `parse_element` (the JVM builds elements; tests and tools build them here)."""
    encoded = key.encode()
    return _ELEMENT.pack(origin, timestamp, len(encoded)) + encoded + payload


class LevelStage(ShippedFunction, KeyedProcessFunction):
    """The keys of one level. `ctx.get_current_key()` is the bucket."""

    def __init__(self, stage_level: int, registry: TenantRegistry, options: ActionSettings):
        self.stage_level = stage_level
        self.registry = registry
        self.options = options

    def open(self, runtime_context):
        self.codec = AvroCodec()
        self.delta_encoder = DeltaEncoder(self.codec)
        self.enriched = EnrichedEncoder(self.codec)
        self.keys = CachedMapState(runtime_context.get_map_state(IDENTIFIERS), self.options.state_cache)
        metrics = runtime_context.get_metrics_group()
        self.counters = BatchedCounters(metrics, COUNTERS)
        self.counts = self.counters.pending
        self.freshness = LatencyWindow()
        self.gauges = PushedGauges(metrics)
        register_freshness(self.gauges, self.freshness)
        self.rules: dict[str, Rules] = {}

    def _encode(self, action) -> bytes:
        return self.codec.encode("unified_action", action_record(action, action.time_ms))

    def _decode(self, raw: bytes):
        return decode_action(self.codec, raw)

    def _rules(self, tenant: str) -> Rules:
        rules = self.rules.get(tenant)
        if rules is None:
            policy = self.registry.get(tenant)
            cap = policy.limits.max_identifiers_per_user if policy else DEFAULT_IDENTIFIER_CAP
            rules = self.rules[tenant] = Rules(tenant, cap, self.options.snapshot_attributes)
        return rules

    def process_element(self, value, ctx):
        self.keys.begin(ctx.get_current_key())
        now_ms = time.time() * 1000
        records = (
            record for _output, _key, element in frames.unpack(bytes(value)) for record in self._one(element, now_ms)
        )
        yield from frames.framed(records, self.options.frame_records)
        self.keys.flush()
        self.counters.flush()
        self.gauges.push()

    def _one(self, element: bytes, now_ms: float):
        origin, stamp, routed_key, payload = parse_element(element)
        tenant, bar, key = routed_key.partition("|")
        if origin == ROUTED:
            self.freshness.add(now_ms - stamp)
            try:
                if not bar or ":" not in key or level(key) != self.stage_level:
                    raise ValueError(f"the key {routed_key[:200]!r} names no identifier of this level")
                record = decode_action(self.codec, payload)
            except UNREADABLE as exc:  # KeyError among them (a key of no level): refused with its bytes
                self.counts["unreadable"] += 1
                yield (REJECTED, *encode_unreadable(self.codec, payload, str(exc), stamp), stamp)
                return
        elif origin == FORGET:
            try:
                (version,) = _FORGET.unpack(payload)
            except struct.error as exc:
                self.counts["unreadable"] += 1
                yield (REJECTED, *encode_unreadable(self.codec, payload, f"not a forget: {exc}", stamp), stamp)
                return
        # State is kept under the sealed key (routing.seal); a forward names its target sealed already.
        state_key = f"{tenant}|{seal(tenant, key)}" if origin == ROUTED else routed_key
        stored = self.keys.get(state_key)
        state = unpack_key_state(stored) if stored is not None else KeyState()
        effects = Effects()
        rules = self._rules(tenant)
        if origin == ROUTED:
            on_routed(rules, key, state, record, effects)
        elif origin == FORGET:
            on_forwarded(rules, key, state, Forget(version), effects)
        else:
            on_forwarded(rules, key, state, unpack_item(payload, self._decode), effects)
        self.keys.put(state_key, pack_key_state(state))
        yield from self._outputs(tenant, effects, stamp)

    def _outputs(self, tenant: str, effects: Effects, stamp: int):
        counts = self.counts
        for name, n in effects.counts.items():
            counts[name] += n
        encoder = self.delta_encoder
        for message_id, delta in effects.deltas:
            yield (DELTAS, *encode_delta(encoder, tenant, message_id, delta), stamp)
        by_message: dict[str, list] = {}
        for message_id, uid, index, event, snapshot in effects.events:
            by_message.setdefault(message_id, []).append((uid, index, event, snapshot))
        for message_id, events in by_message.items():
            for key, value in encode_events(self.enriched, tenant, message_id, events):
                yield (EVENTS, key, value, stamp)
        for uid, ids, merged_into, deleted in effects.profiles:
            key = profile_key(tenant, uid)
            record = profile_record(tenant, uid, ids, merged_into, deleted)
            yield (PROFILES, key, self.codec.encode("identity_profile", record), stamp)
            if deleted:
                yield (PROFILES, key, None, stamp)
        for target, forget in effects.forgets:
            yield (FORGETS, routing_key(tenant, target), _FORGET.pack(forget.version), stamp)
        for target, item in effects.forwards:
            payload = pack_item(item, self._encode)
            yield (FORWARD_BASE + level(target), routing_key(tenant, target), payload, stamp)
