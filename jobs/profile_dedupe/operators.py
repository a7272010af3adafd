"""profile-dedupe's operator: per-tenant batches of computation messages and identity profiles on the
keyed side, destination config and rollout levers on the broadcast side. It holds the state and calls
the rules: decisions (engine.py), waiting (parking.py), config readiness (config.py)."""

from __future__ import annotations

import functools
import os
import time
from collections import Counter

from pyflink.common import Types
from pyflink.datastream.functions import KeyedBroadcastProcessFunction
from pyflink.datastream.state import ListStateDescriptor, MapStateDescriptor

from common.config import Settings
from common.contracts.compute import Trigger, message_from_record
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
from jobs.profile_dedupe.comparator import ShadowComparator
from jobs.profile_dedupe.config import ConfigReadiness, apply_config, config_key, digest
from jobs.profile_dedupe.decide import BRANCHES
from jobs.profile_dedupe.engine import DedupeEngine, DestinationIndex
from jobs.profile_dedupe.parking import ConfigWait, Verdict, verdict
from jobs.profile_dedupe.process import OUTBOUND, MessageOutcome, profiles_read_by
from jobs.profile_dedupe.records import Encoders
from jobs.profile_dedupe.report import FIELDS, format_report
from jobs.profile_dedupe.settings import DedupeSettings

log = get_logger(__name__)

NAME = "profile-dedupe"
# State names are part of every savepoint: renaming one loses what it held (tests/unit/test_state_layouts.py).
CONFIG_STATE = MapStateDescriptor("config", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
PROFILES_STATE = MapStateDescriptor("profiles", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
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
        self.parking = ParkingLot(
            runtime_context.get_list_state(PARKED_STATE),
            self.options.retry_ms,
            # a message's order matters for the profiles it reads only (docs/profile-dedupe.md)
            names=lambda parked: frozenset(profiles_read_by(self._parked_message(parked)[0])),
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
            name: metrics.counter(name) for name in FIELDS + ("profile_wait_timeouts", "config_wait_timeouts")
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
        """`value` is a batch of one tenant's records, in arrival order (TenantBatches.java)."""
        self._load_config(ctx)
        tenant = ctx.get_current_key()
        self.profiles.begin(tenant)
        records = (
            out
            for _o, key, raw in frames.unpack(bytes(value))
            for out in self._on_record(raw, record_time(key, None), tenant, ctx)
        )
        yield from framed(records, self.options.frame_records)
        self._end_batch(ctx)

    def on_timer(self, timestamp, ctx):
        self._load_config(ctx)
        tenant = ctx.get_current_key()
        self.profiles.begin(tenant)
        if self.parking.size(tenant):
            yield from framed(self._release(ctx, tenant), self.options.frame_records)
        self._end_batch(ctx)

    def _end_batch(self, ctx) -> None:
        self.profiles.flush()
        self._flush_metrics()
        self.gauges.push()
        if self.progress.due(self.totals, ctx):
            window = self.steps["decide"]
            latencies = {"decide_p95_us": int(window.percentile(95)), "decide_p99_us": int(window.percentile(99))}
            log.info(format_report(self.subtask, self.totals, latencies))

    def _on_record(self, raw: bytes, stamp: int | None, tenant: str, ctx):
        """The outputs of one record of a batch; `stamp` is its Kafka timestamp (None if it has none)."""
        try:
            schema, record = self.encoders.decode(raw)
        except SerdeError as exc:
            self._count("messages")
            yield self._reject(Rejection(Reason.INVALID_RECORD, str(exc)), raw, None)
            return
        if schema == "identity_profile":
            user_id, update = profile_from_record(record)
            self.engine.on_profile(self.profiles, user_id, update)
            self._count("profiles")
            if self.parking.size(tenant):
                yield from self._release(ctx, tenant, touched=frozenset((user_id,)))
            return
        self._count("messages")
        if schema != "compute_message":
            yield self._reject(Rejection(Reason.INVALID_RECORD, f"a {schema} record on the compute input"), raw, record)
            return
        try:
            message = message_from_record(record)
        except Refusal as refusal:
            yield self._reject(Rejection.of(refusal), raw, record)
            return
        read = frozenset(profiles_read_by(message))
        if self.parking.waits_behind(tenant, read) or not self._may_go(message, waited_ms=0):
            timers = ctx.timer_service()
            parked = (raw, stamp)
            self.parking.park(tenant, parked, timers.current_processing_time(), timers.register_processing_time_timer)
            self._count("waiting")
        else:
            yield from self._handle(message, stamp)

    def _may_go(self, message, waited_ms: int) -> bool:
        config_ready = self.config_wait.ready()
        if self.config_wait.gave_up:
            self.config_wait.gave_up = False
            log.warning(
                f"{NAME}: the config snapshot taken at submit time is still incomplete after "
                f"{self.options.config_wait_ms} ms; going on without it"
            )
            self._count("config_wait_timeouts")
        known = self.engine.known
        profiles_known = known(self.profiles, message.profile_id) and (
            message.trigger is not Trigger.PROFILE_MERGE
            or all(known(self.profiles, p) for p in message.merged_profile_ids)
        )
        decided = verdict(config_ready, profiles_known, waited_ms, self.options.profile_wait_ms)
        if decided is Verdict.GO_TIMED_OUT:
            self._count("profile_wait_timeouts")
        return decided is not Verdict.WAIT

    def _release(self, ctx, tenant: str, touched: frozenset | None = None):
        """Handle parked messages from the oldest while they can go; keep the rest, in order."""
        timers = ctx.timer_service()

        def may_go(parked, waited_ms: int) -> bool:
            return self._may_go(self._parked_message(parked)[0], waited_ms)

        for parked in self.parking.release(
            tenant, timers.current_processing_time(), may_go, timers.register_processing_time_timer, touched
        ):
            self._count("waiting", -1)
            yield from self._handle(*self._parked_message(parked))

    def _parked_message(self, parked: tuple[bytes, int | None] | bytes):
        """A parked message and its Kafka timestamp. A savepoint from before timestamps holds the bare
        value (no timestamp)."""
        raw, stamp = parked if isinstance(parked, tuple) else (parked, None)
        return self._decode_parked(raw), stamp

    @functools.lru_cache(maxsize=PARKED_DECODED)  # noqa: B019 - one operator per process slot, for the job's life
    def _decode_parked(self, raw: bytes):
        """A parked message, decoded once while it waits (a release asks each waiting one again)."""
        return message_from_record(self.encoders.decode(raw)[1])  # it passed these checks before

    def _handle(self, message, stamp: int | None):
        """Yield the (output, key, value, timestamp) records of one message, stamped with the message's
        Kafka timestamp. One message in TIMING_SAMPLE has its
        steps timed (state, decide, encode): enough for percentiles, without timing every one."""
        self.handled += 1
        timed = self.handled % TIMING_SAMPLE == 0
        self.profiles.timing = timed
        outcome = MessageOutcome()
        started, encoding = time.perf_counter() if timed else 0.0, 0.0
        self.state_clock[0] = 0.0
        encoders = self.encoders
        for kind, record in self.engine.on_message(self.profiles, message, self.index, self.rollout, outcome):
            encode_started = time.perf_counter() if timed else 0.0
            out = encoders.outbound(message, record) if kind == OUTBOUND else encoders.mismatch(message, record)
            if timed:
                encoding += time.perf_counter() - encode_started
            yield (*out, stamp)
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
