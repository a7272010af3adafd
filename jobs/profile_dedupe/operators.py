"""profile-dedupe's operator: per-bucket batches of computation messages, identity profiles and merge
handovers on the keyed side (a bucket of (tenant, profile): buckets.py), destination config and
rollout levers on the broadcast side. It holds the state and calls the rules: decisions (engine.py),
merges across buckets (merges.py), waiting (parking.py), config readiness (config.py)."""

from __future__ import annotations

import functools
import itertools
import os
import time
from collections import Counter

from pyflink.common import Types
from pyflink.datastream.functions import KeyedBroadcastProcessFunction
from pyflink.datastream.state import ListStateDescriptor, MapStateDescriptor

from common.config import Settings
from common.contracts.compute import message_from_record
from common.contracts.profiles import profile_from_record
from common.contracts.rejections import Reason, Refusal, Rejection
from common.contracts.rollout import Rollout
from common.flink.batches import record_time
from common.flink.environment import subtask_index
from common.flink.map_state_cache import CachedMapState
from common.flink.parking import ParkingLot
from common.flink.progress import ProgressThrottle
from common.flink.shipped_code import ShippedFunction
from common.log import configure_job as configure_logging
from common.log import get_logger
from common.metrics import LatencyWindow, PushedGauges, register_freshness
from common.serde import frames
from common.serde.avro import AvroCodec, SerdeError
from common.serde.frames import framed
from jobs.profile_dedupe.buckets import unmark
from jobs.profile_dedupe.comparator import ShadowComparator
from jobs.profile_dedupe.config import ConfigReadiness, apply_config, config_key, digest
from jobs.profile_dedupe.decide import BRANCHES
from jobs.profile_dedupe.engine import DedupeEngine, DestinationIndex, TenantStore
from jobs.profile_dedupe.merges import (
    Roles,
    awaited_key,
    handed_over,
    handover_record,
    merged_away,
    names,
    packed_handover,
    roles,
)
from jobs.profile_dedupe.parking import ConfigWait, Verdict, verdict
from jobs.profile_dedupe.process import OUTBOUND, MessageOutcome, profiles_read_by
from jobs.profile_dedupe.profiles import EMPTY, pack, unpack
from jobs.profile_dedupe.records import Encoders
from jobs.profile_dedupe.report import FIELDS, format_report
from jobs.profile_dedupe.settings import DedupeSettings

log = get_logger(__name__)

NAME = "profile-dedupe"
# State names are part of every savepoint: renaming one loses what it held (tests/unit/test_state_layouts.py).
CONFIG_STATE = MapStateDescriptor("config", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
# keyed by bucket: profiles by `tenant NUL profile` (engine.TenantStore); the handovers a merge waits
# for by `tenant NUL message id` (merges.py)
PROFILES_STATE = MapStateDescriptor("profiles", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
HANDOVERS_STATE = MapStateDescriptor("handovers", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
PARKED_STATE = ListStateDescriptor("parked", Types.PICKLED_BYTE_ARRAY())
PARKED_DECODED = 50_000  # parked messages kept decoded (a few hundred bytes each)
REPORT_EVERY_S = 2.0
TIMING_SAMPLE = 16  # one message in this many has its steps timed


class DedupeMessages(ShippedFunction, KeyedBroadcastProcessFunction):
    def __init__(self, settings: Settings, options: DedupeSettings, expected: dict[str, str]):
        self.settings = settings
        self.options = options
        self.expected = expected

    def open(self, runtime_context):
        configure_logging()
        self.encoders = Encoders(AvroCodec())
        self.state_clock = [0.0]
        self.profiles = CachedMapState(
            runtime_context.get_map_state(PROFILES_STATE), self.options.profile_cache, self.state_clock
        )
        self.handovers = runtime_context.get_map_state(HANDOVERS_STATE)
        self.parking = ParkingLot(
            runtime_context.get_list_state(PARKED_STATE),
            self.options.retry_ms,
            # a message's order matters for the profiles it reads only (docs/profile-dedupe.md)
            names=lambda parked: self._parked_names(parked[0]),
        )
        spill = os.path.join(self.settings.data_dir, "profile-dedupe", "comparator")
        self.engine = DedupeEngine(
            ShadowComparator(spill, cap=self.options.comparator_cap),
            duplicate_window_ms=self.options.duplicate_window_hours * 3600 * 1000,
        )
        self.index: DestinationIndex | None = None
        self.rollout = Rollout()
        self.readiness = ConfigReadiness(self.expected)
        self.config_wait = ConfigWait(self.readiness, self.options.config_wait_ms)
        self.subtask = subtask_index(runtime_context)
        metrics = runtime_context.get_metrics_group()
        self.metrics = metrics
        self.totals = dict.fromkeys(FIELDS, 0)
        self.counters = {
            name: metrics.counter(name)
            for name in FIELDS + ("profile_wait_timeouts", "config_wait_timeouts", "handovers", "handovers_unclaimed")
        }
        self.unflushed, self.unflushed_branches = Counter(), Counter()
        self.branch_counters = {}
        for branch in BRANCHES:
            self._branch_counter(branch)
            self._branch_counter(f"shadow.{branch}")
        self.handled = 0
        # whether HEADWATER_DEDUPE_PROFILE_CACHE is large enough: misses are state reads
        self.gauges = PushedGauges(metrics)
        self.gauges.add("profile_cache_hits", lambda: self.profiles.hits)
        self.gauges.add("profile_cache_misses", lambda: self.profiles.misses)
        self.steps = {step: LatencyWindow() for step in ("decide", "state", "encode")}
        for step, window in self.steps.items():
            for p in (95, 99):
                self.gauges.add(f"{step}_latency_p{p}_us", lambda w=window, p=p: w.percentile(p))
        self.progress = ProgressThrottle(self.totals, REPORT_EVERY_S)
        # How old a message is when decided: from its Kafka timestamp on hw.compute.output (carried
        # through the batcher and the parking lot) to the decision; its outbound events carry it too.
        self.freshness = LatencyWindow()
        register_freshness(self.gauges, self.freshness)

    # -- counting: once per batch into Flink ------------------------------------------------------

    def _branch_counter(self, branch: str):
        counter = self.branch_counters.get(branch)
        if counter is None:
            counter = self.branch_counters[branch] = self.metrics.counter("branch_" + branch.replace(".", "_"))
        return counter

    def _count(self, name: str, n: int = 1) -> None:
        if name in self.totals:
            self.totals[name] += n
        self.unflushed[name] += n

    def _flush_metrics(self) -> None:
        """Counts reach the Flink counters once per batch: each `inc` is a call into the JVM, and a
        dozen per message cost as much as the decisions themselves."""
        for name, n in self.unflushed.items():
            if n:
                self.counters[name].inc(n)
        for branch, n in self.unflushed_branches.items():
            self._branch_counter(branch).inc(n)
        self.unflushed.clear()
        self.unflushed_branches.clear()

    # -- config (broadcast side) ------------------------------------------------------------------

    def process_broadcast_element(self, value, ctx):
        raw = bytes(value)
        try:
            schema, record = self.encoders.decode(raw)
            key = config_key(schema, record)
            index = self.index if self.index is not None else DestinationIndex()
            self.rollout = apply_config(schema, record, index, self.rollout)
        except (ValueError, KeyError) as exc:
            rejection = Rejection(Reason.INVALID_RECORD, f"config record refused: {exc}")
            yield frames.pack([self.encoders.rejection(rejection, raw, None, "destinations.config")])
            return
        ctx.get_broadcast_state(CONFIG_STATE).put(key, (schema, record, digest(raw)))
        self.readiness.saw(key, digest(raw))

    def _load_config(self, ctx) -> None:
        """After a start or restore: the index and rollout from the broadcast state, and which records of
        the snapshot it already holds."""
        if self.index is not None:
            return
        self.index = DestinationIndex()
        for key, (schema, record, value_digest) in ctx.get_broadcast_state(CONFIG_STATE).items():
            self.rollout = apply_config(schema, record, self.index, self.rollout)
            self.readiness.saw(key, value_digest)

    # -- messages and profiles (keyed side) -------------------------------------------------------

    def process_element(self, value, ctx):
        """`value` is a batch of one bucket's records, in arrival order (TenantBatches.java).

        What a profile or a handover lets go is asked once, after the batch: a message that arrives
        behind a waiting one in the same batch waits behind it, so each profile keeps its order, and
        the waiting room is read once per batch, not once per record (a backlog parks hundreds of
        merges per bucket while their handovers come)."""
        self._load_config(ctx)
        bucket = ctx.get_current_key()
        self.profiles.begin(bucket)
        self.touched = set()
        records = (
            out
            for _o, key, raw in frames.unpack(bytes(value))
            for out in self._on_record(raw, record_time(key, None), bucket, ctx)
        )
        yield from framed(itertools.chain(records, self._release_touched(ctx, bucket)), self.options.frame_records)
        self._end_batch(ctx)

    def _release_touched(self, ctx, bucket: str):
        if self.touched and self.parking.size(bucket):
            yield from self._release(ctx, bucket, touched=frozenset(self.touched))

    def on_timer(self, timestamp, ctx):
        self._load_config(ctx)
        bucket = ctx.get_current_key()
        self.profiles.begin(bucket)
        if self.parking.size(bucket):
            yield from framed(self._release(ctx, bucket), self.options.frame_records)
        self._end_batch(ctx)

    def _end_batch(self, ctx) -> None:
        self.profiles.flush()
        self._flush_metrics()
        self.gauges.push()
        if self.progress.due(self.totals, ctx):
            window = self.steps["decide"]
            latencies = {"decide_p95_us": int(window.percentile(95)), "decide_p99_us": int(window.percentile(99))}
            log.info(format_report(self.subtask, self.totals, latencies))

    def _on_record(self, original: bytes, stamp: int | None, bucket: str, ctx):
        """The outputs of one record of a batch; `stamp` is its Kafka timestamp (None if it has none).
        `original` may be a merge's marked copy for this bucket (buckets.py)."""
        raw, copy = unmark(original, self.options.buckets)
        try:
            schema, record = self.encoders.decode(raw)
        except SerdeError as exc:
            self._count("messages")
            yield self._reject(Rejection(Reason.INVALID_RECORD, str(exc)), original, None)
            return
        if schema == "identity_profile":
            user_id, update = profile_from_record(record)
            self.engine.on_profile(TenantStore(self.profiles, record["tenant"]), user_id, update)
            self._count("profiles")
            self.touched.add((record["tenant"], user_id))
            return
        if schema == "dedupe_handover":
            self._on_handover(record)
            return
        if schema != "compute_message":
            self._count("messages")
            yield self._reject(Rejection(Reason.INVALID_RECORD, f"a {schema} record on the compute input"), raw, record)
            return
        try:
            message = message_from_record(record)
        except Refusal as refusal:
            if copy is None:  # a copy's refusal is its original's to report
                self._count("messages")
                yield self._reject(Rejection.of(refusal), raw, record)
            return
        role = roles(message, copy, self.options.buckets)
        if role.survivor:
            self._count("messages")
            if role.remote_losers:
                self._await_handovers(message, role)
        if self.parking.waits_behind(bucket, self._names(message, role)) or not self._may_go(message, role, 0):
            timers = ctx.timer_service()
            parked = (original, stamp)
            self.parking.park(bucket, parked, timers.current_processing_time(), timers.register_processing_time_timer)
            self._count("waiting")
        else:
            yield from self._handle(message, role, stamp)

    @staticmethod
    def _names(message, role: Roles) -> frozenset:
        """What a waiting message's order matters for: the profiles it reads here."""
        return names(message.tenant, profiles_read_by(message) if role.survivor else role.local_losers)

    # -- merges across buckets (merges.py) --------------------------------------------------------

    def _duplicate(self, message) -> bool:
        packed = TenantStore(self.profiles, message.tenant).get(message.profile_id)
        return packed is not None and message.message_id in packed[4]  # pack()'s `seen`

    def _await_handovers(self, message, role: Roles) -> None:
        """A merge that reads profiles of other buckets waits for their handovers (unless it is a copy
        of a message already decided: that one reads nothing)."""
        key = awaited_key(message.tenant, message.message_id)
        if not self._duplicate(message) and self.handovers.get(key) is None:
            self.handovers.put(key, dict.fromkeys(role.remote_losers))

    def _handovers_in(self, message, role: Roles) -> bool:
        if not role.remote_losers or self._duplicate(message):
            return True
        awaited = self.handovers.get(awaited_key(message.tenant, message.message_id))
        # None: nothing awaited (the survivor was deleted since a copy of this merge was decided)
        return awaited is None or all(v is not None for v in awaited.values())

    def _on_handover(self, record: dict) -> None:
        tenant, key = record["tenant"], awaited_key(record["tenant"], record["message_id"])
        awaited = self.handovers.get(key)
        if awaited is None or awaited.get(record["profile_id"], ()) is not None:
            self._count("handovers_unclaimed")  # for a copy of a merge already decided
            return
        self.handovers.put(key, {**awaited, record["profile_id"]: packed_handover(record)})
        self.touched.add((tenant, record["survivor_id"]))

    def _hand_over(self, message, role: Roles, stamp: int | None):
        """A loser copy: hand the merged profiles of this bucket over to the survivor's."""
        store = TenantStore(self.profiles, message.tenant)
        for profile_id in role.local_losers:
            state = unpack(store.get(profile_id))
            yield (*self.encoders.handover(handover_record(message, profile_id, state)), stamp)
            store.put(profile_id, pack(merged_away(state, message.profile_id)))
            self._count("handovers")

    # -- deciding ---------------------------------------------------------------------------------

    def _may_go(self, message, role: Roles, waited_ms: int) -> bool:
        store = TenantStore(self.profiles, message.tenant)
        known = self.engine.known
        if not role.survivor:  # a loser copy needs its profiles only, not the config
            profiles_known = all(known(store, p) for p in role.local_losers)
            decided = verdict(True, profiles_known, waited_ms, self.options.profile_wait_ms)
        else:
            config_ready = self.config_wait.ready()
            if self.config_wait.gave_up:
                self.config_wait.gave_up = False
                log.warning(
                    f"{NAME}: the config snapshot taken at submit time is still incomplete after "
                    f"{self.options.config_wait_ms} ms; going on without it"
                )
                self._count("config_wait_timeouts")
            profiles_known = known(store, message.profile_id) and all(known(store, p) for p in role.local_losers)
            decided = verdict(config_ready, profiles_known, waited_ms, self.options.profile_wait_ms)
            if decided is not Verdict.WAIT and not self._handovers_in(message, role):
                return False  # a handover always comes: never decided without it
        if decided is Verdict.GO_TIMED_OUT:
            self._count("profile_wait_timeouts")
        return decided is not Verdict.WAIT

    def _release(self, ctx, bucket: str, touched: frozenset | None = None):
        """Handle parked messages from the oldest while they can go; keep the rest, in order."""
        timers = ctx.timer_service()
        buckets = self.options.buckets

        def may_go(parked, waited_ms: int) -> bool:
            message, copy, _stamp = self._parked_message(parked)
            return self._may_go(message, roles(message, copy, buckets), waited_ms)

        for parked in self.parking.release(
            bucket, timers.current_processing_time(), may_go, timers.register_processing_time_timer, touched
        ):
            self._count("waiting", -1)
            message, copy, stamp = self._parked_message(parked)
            yield from self._handle(message, roles(message, copy, buckets), stamp)

    def _parked_message(self, parked: tuple[bytes, int | None]):
        """A parked message, the bucket it is a copy for (None: the original) and its Kafka timestamp."""
        raw, stamp = parked
        return (*self._decode_parked(raw), stamp)

    @functools.lru_cache(maxsize=PARKED_DECODED)  # noqa: B019 - one operator per process slot, for the job's life
    def _parked_names(self, original: bytes) -> frozenset:
        """The names of a parked message (asked of every waiting one on each release)."""
        message, copy = self._decode_parked(original)
        return self._names(message, roles(message, copy, self.options.buckets))

    @functools.lru_cache(maxsize=PARKED_DECODED)  # noqa: B019 - one operator per process slot, for the job's life
    def _decode_parked(self, original: bytes):
        """A parked message, decoded once while it waits (a release asks each waiting one again)."""
        raw, copy = unmark(original, self.options.buckets)
        return message_from_record(self.encoders.decode(raw)[1]), copy  # it passed these checks before

    def _handle(self, message, role: Roles, stamp: int | None):
        """Yield the (output, key, value, timestamp) records of one message, stamped with the message's
        Kafka timestamp. One message in TIMING_SAMPLE has its
        steps timed (state, decide, encode): enough for percentiles, without timing every one."""
        if not role.survivor:
            yield from self._hand_over(message, role, stamp)
            return
        elsewhere, awaited = None, None
        if role.remote_losers and not self._duplicate(message):
            awaited = self.handovers.get(awaited_key(message.tenant, message.message_id)) or {}
            elsewhere = {
                p: handed_over(awaited[p], message.computation_id) if awaited.get(p) else EMPTY
                for p in role.remote_losers
            }
        self.handled += 1
        timed = self.handled % TIMING_SAMPLE == 0
        self.profiles.timing = timed
        outcome = MessageOutcome()
        started, encoding = time.perf_counter() if timed else 0.0, 0.0
        self.state_clock[0] = 0.0
        encoders = self.encoders
        store = TenantStore(self.profiles, message.tenant)
        for kind, record in self.engine.on_message(store, message, self.index, self.rollout, outcome, elsewhere):
            encode_started = time.perf_counter() if timed else 0.0
            out = encoders.outbound(message, record) if kind == OUTBOUND else encoders.mismatch(message, record)
            if timed:
                encoding += time.perf_counter() - encode_started
            yield (*out, stamp)
        if awaited is not None:
            self.handovers.remove(awaited_key(message.tenant, message.message_id))
        if stamp is not None:
            self.freshness.add(time.time() * 1000 - stamp)
        if timed:
            total = time.perf_counter() - started
            self.steps["state"].add(self.state_clock[0] * 1e6)
            self.steps["encode"].add(encoding * 1e6)
            self.steps["decide"].add((total - encoding - self.state_clock[0]) * 1e6)
        if outcome.duplicate:
            self._count("duplicates")
            return
        self._count("sent" if outcome.events else "dropped")
        self._count("events", outcome.events)
        self._count("deliveries", outcome.deliveries)
        self._count("mismatches", outcome.mismatches)
        self.unflushed_branches.update(outcome.branches)

    def _reject(self, rejection: Rejection, raw: bytes, record: dict | None) -> tuple[int, bytes, bytes]:
        self._count("rejected")
        return self.encoders.rejection(rejection, raw, record, "compute.output")
