"""profile-dedupe: computation messages -> dedupe decisions -> one outbound event per ID group.

Wiring only (rules: decide.py, process.py, engine.py; levers: rollout.py, comparator.py):
  KafkaSource(hw.compute.output + hw.identity.profiles) -> per-tenant batches (Java) ─┐
  KafkaSource(hw.destinations.config + hw.dedupe.rollout) -> broadcast ───────────────┴> DedupeMessages
  -> frames -> one exactly-once sink: hw.delivery.outbound, hw.dedupe.mismatches, hw.rejected

Records reach the Python operator in batches of one tenant's records (up to
HEADWATER_DEDUPE_BATCH_RECORDS, or HEADWATER_DEDUPE_BATCH_DELAY_MS after the first): a Python operator
pays a fixed cost per element, so one element per batch instead of per message (common/flink/batches.py).
Profile state is read through a bounded cache (HEADWATER_DEDUPE_PROFILE_CACHE entries per subtask) and
written once per batch (common/flink/map_state_cache.py): a MapState call crosses into the JVM.

Keyed by tenant: a merge reads the state of the profiles it merges, which are all the tenant's.
A message waits (in Flink ListState, in arrival order per tenant) while a profile it reads (its own;
for a merge, the merged ones too) is not known yet (up to HEADWATER_DEDUPE_PROFILE_WAIT_MS) or the config snapshot taken at submit time is not yet in
the broadcast state (up to HEADWATER_DEDUPE_CONFIG_WAIT_MS); see config.py.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass

from pyflink.common import Types, WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import KeyedBroadcastProcessFunction
from pyflink.datastream.state import ListStateDescriptor, MapStateDescriptor

from common.config import Settings, positive_ints
from common.flink.batches import tenant_batches
from common.flink.environment import subtask_index
from common.flink.kafka import frame_type, framed_exactly_once_sink, kafka_source
from common.flink.map_state_cache import CachedMapState
from common.flink.progress import ProgressThrottle
from common.kafka.snapshot import read_to_end
from common.metrics import LatencyWindow
from common.serde import frames
from common.serde.avro import AvroCodec, SerdeError
from common.serde.fast_avro import OutboundEncoder
from common.topics import topic
from jobs.api_unification.output import rejected_record
from jobs.api_unification.reasons import Reason, Refusal, Rejection
from jobs.profile_dedupe.comparator import ShadowComparator
from jobs.profile_dedupe.config import ConfigReadiness, apply_config, config_key, digest, expected_config
from jobs.profile_dedupe.decide import BRANCHES
from jobs.profile_dedupe.engine import DedupeEngine, DestinationIndex
from jobs.profile_dedupe.model import Trigger, message_from_record, profile_from_record
from jobs.profile_dedupe.process import OUTBOUND, MessageOutcome
from jobs.profile_dedupe.report import FIELDS, format_report
from jobs.profile_dedupe.rollout import Rollout

NAME = "profile-dedupe"
OUTPUTS = ("delivery.outbound", "dedupe.mismatches", "rejected")  # frame output index -> topic suffix
OUTBOUND_OUT, MISMATCH_OUT, REJECTED_OUT = range(len(OUTPUTS))
CONFIG_STATE = MapStateDescriptor("config", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
RETRY_MS = 200
REPORT_EVERY_S = 2.0
FRAME_RECORDS = 200
TIMING_SAMPLE = 16  # a message with a huge fan-out is emitted in several frames, not one giant value


@dataclass(frozen=True)
class DedupeSettings:
    profile_wait_ms: int = 10_000
    config_wait_ms: int = 30_000
    duplicate_window_hours: int = 7 * 24
    comparator_cap: int = 10_000
    batch_records: int = 1024
    batch_delay_ms: int = 50
    profile_cache: int = 50_000

    @staticmethod
    def from_env(env=os.environ) -> "DedupeSettings":
        return DedupeSettings(**positive_ints(env, {
            "profile_wait_ms": "HEADWATER_DEDUPE_PROFILE_WAIT_MS",
            "config_wait_ms": "HEADWATER_DEDUPE_CONFIG_WAIT_MS",
            "duplicate_window_hours": "HEADWATER_DEDUPE_WINDOW_HOURS",
            "comparator_cap": "HEADWATER_DEDUPE_COMPARATOR_CAP",
            "batch_records": "HEADWATER_DEDUPE_BATCH_RECORDS",
            "batch_delay_ms": "HEADWATER_DEDUPE_BATCH_DELAY_MS",
            "profile_cache": "HEADWATER_DEDUPE_PROFILE_CACHE",
        }))


class DedupeMessages(KeyedBroadcastProcessFunction):
    def __init__(self, settings: Settings, options: DedupeSettings, expected: dict[str, str]):
        self.settings = settings
        self.options = options
        self.expected = expected

    def open(self, runtime_context):
        self.codec = AvroCodec()
        self.outbound = OutboundEncoder(self.codec)
        self.state_clock = [0.0]
        pickled = Types.PICKLED_BYTE_ARRAY()
        self.profiles = CachedMapState(runtime_context.get_map_state(MapStateDescriptor("profiles", Types.STRING(), pickled)),
                                       self.options.profile_cache, self.state_clock)
        self.parked = runtime_context.get_list_state(ListStateDescriptor("parked", pickled))
        self.parked_len: dict[str, int] = {}
        spill = os.path.join(self.settings.data_dir, "profile-dedupe", "comparator")
        self.engine = DedupeEngine(ShadowComparator(spill, cap=self.options.comparator_cap),
                                   duplicate_window_ms=self.options.duplicate_window_hours * 3600 * 1000)
        self.index: DestinationIndex | None = None
        self.rollout = Rollout()
        self.readiness = ConfigReadiness(self.expected)
        self.config_wait_started: float | None = None
        self.subtask = subtask_index(runtime_context)
        metrics = runtime_context.get_metrics_group()
        self.metrics = metrics
        self.totals = dict.fromkeys(FIELDS, 0)
        self.counters = {name: metrics.counter(name) for name in FIELDS + ("profile_wait_timeouts", "config_wait_timeouts")}
        self.unflushed, self.unflushed_branches = Counter(), Counter()
        self.branch_counters = {}
        for branch in BRANCHES:
            self._branch_counter(branch)
            self._branch_counter(f"shadow.{branch}")
        self.handled = 0
        # whether HEADWATER_DEDUPE_PROFILE_CACHE is large enough: misses are state reads
        metrics.gauge("profile_cache_hits", lambda: self.profiles.hits)
        metrics.gauge("profile_cache_misses", lambda: self.profiles.misses)
        self.steps = {step: LatencyWindow() for step in ("decide", "state", "encode")}
        for step, window in self.steps.items():
            for p in (95, 99):
                metrics.gauge(f"{step}_latency_p{p}_us", lambda w=window, p=p: int(w.percentile(p)))
        self.progress = ProgressThrottle(self.totals, REPORT_EVERY_S)

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

    # -- config (broadcast side) ---------------------------------------------------------------

    def process_broadcast_element(self, value, ctx):
        raw = bytes(value)
        try:
            schema = self.codec.writer_of(raw).name
            record = self.codec.decode(raw)
            key = config_key(schema, record)
            self.rollout = apply_config(schema, record, self.index if self.index is not None else DestinationIndex(),
                                        self.rollout)
        except (ValueError, KeyError) as exc:
            yield frames.pack([(REJECTED_OUT, b"", self._rejected(
                Rejection(Reason.INVALID_RECORD, f"config record refused: {exc}"), raw, None, "destinations.config"))])
            return
        state = ctx.get_broadcast_state(CONFIG_STATE)
        state.put(key, (schema, record, digest(raw)))
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

    def _config_ready(self) -> bool:
        if self.readiness.ready:
            return True
        now = time.monotonic()
        if self.config_wait_started is None:
            self.config_wait_started = now
        if (now - self.config_wait_started) * 1000 < self.options.config_wait_ms:
            return False
        print(f"{NAME}: the config snapshot taken at submit time is still incomplete after "
              f"{self.options.config_wait_ms} ms ({len(self.readiness.missing)} records); going on without it",
              flush=True)
        self._count("config_wait_timeouts")
        self.readiness.missing.clear()
        return True

    # -- messages and profiles (keyed side) ----------------------------------------------------

    def process_element(self, value, ctx):
        """`value` is a batch of one tenant's records, in arrival order (TenantBatches.java)."""
        self._load_config(ctx)
        tenant = ctx.get_current_key()
        self.profiles.begin(tenant)
        yield from _framed(out for _o, _k, raw in frames.unpack(bytes(value))
                           for out in self._on_record(raw, tenant, ctx))
        self.profiles.flush()
        self._flush_metrics()
        self._report(ctx)

    def on_timer(self, timestamp, ctx):
        self._load_config(ctx)
        tenant = ctx.get_current_key()
        self.profiles.begin(tenant)
        if self._parked_count(tenant):
            yield from _framed(self._release(ctx, tenant))
        self.profiles.flush()
        self._flush_metrics()
        self._report(ctx)

    def _on_record(self, raw: bytes, tenant: str, ctx):
        try:
            schema = self.codec.writer_of(raw).name
            record = self.codec.decode(raw)
        except SerdeError as exc:
            self._count("messages")
            yield self._reject(Rejection(Reason.INVALID_RECORD, str(exc)), raw, None)
            return
        if schema == "identity_profile":
            user_id, update = profile_from_record(record)
            self.engine.on_profile(self.profiles, user_id, update)
            self._count("profiles")
            if self._parked_count(tenant):
                yield from self._release(ctx, tenant)
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
        if self._parked_count(tenant) or not self._can_process(message, waited_ms=0):
            self._park(ctx, tenant, raw, ctx.timer_service().current_processing_time())
        else:
            yield from self._handle(message)

    def _parked_count(self, tenant: str) -> int:
        if tenant not in self.parked_len:  # first touch since open: the state may hold restored messages
            self.parked_len[tenant] = sum(1 for _ in (self.parked.get() or []))
        return self.parked_len[tenant]

    def _park(self, ctx, tenant: str, raw: bytes, now_ms: int) -> None:
        self.parked.add((raw, now_ms))
        self.parked_len[tenant] += 1
        self._count("waiting")
        if self.parked_len[tenant] == 1:
            ctx.timer_service().register_processing_time_timer(now_ms + RETRY_MS)

    def _can_process(self, message, waited_ms: int) -> bool:
        if not (self.readiness.ready or self._config_ready()):
            return False
        known = self.engine.known
        if known(self.profiles, message.profile_id) and (
                message.trigger is not Trigger.PROFILE_MERGE
                or all(known(self.profiles, p) for p in message.merged_profile_ids)):
            return True
        if waited_ms >= self.options.profile_wait_ms:
            self._count("profile_wait_timeouts")
            return True
        return False

    def _release(self, ctx, tenant: str):
        """Handle parked messages from the oldest while they can go; keep the rest, in order."""
        parked = list(self.parked.get() or [])
        now = ctx.timer_service().current_processing_time()
        done = 0
        for raw, parked_at in parked:
            message = message_from_record(self.codec.decode(raw))  # it passed these checks before parking
            if not self._can_process(message, waited_ms=now - parked_at):
                break
            self._count("waiting", -1)
            yield from self._handle(message)
            done += 1
        if done:
            self.parked.update(parked[done:])
        self.parked_len[tenant] = len(parked) - done
        if self.parked_len[tenant]:
            ctx.timer_service().register_processing_time_timer(now + RETRY_MS)

    def _handle(self, message):
        """Yield the (output, key, value) records of one message. One message in TIMING_SAMPLE has its
        steps timed (state, decide, encode): enough for percentiles, without timing every one."""
        self.handled += 1
        timed = self.handled % TIMING_SAMPLE == 0
        self.profiles.timing = timed
        outcome = MessageOutcome()
        started, encoding = time.perf_counter() if timed else 0.0, 0.0
        self.state_clock[0] = 0.0
        key = f"{message.tenant}:{message.profile_id}".encode()
        for kind, record in self.engine.on_message(self.profiles, message, self.index, self.rollout, outcome):
            encode_started = time.perf_counter() if timed else 0.0
            if kind == OUTBOUND:
                out = (OUTBOUND_OUT, key, self.outbound.encode(record))
            else:
                out = (MISMATCH_OUT, key, self.codec.encode("dedupe_mismatch", record))
            if timed:
                encoding += time.perf_counter() - encode_started
            yield out
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
        return REJECTED_OUT, b"", self._rejected(rejection, raw, record, "compute.output")

    def _rejected(self, rejection: Rejection, raw: bytes, record: dict | None, source: str) -> bytes:
        record = record or {}
        return self.codec.encode("rejected", rejected_record(
            rejection, source=source, tenant=record.get("tenant"), message_id=record.get("message_id"),
            arrival_ms=int(time.time() * 1000), original=raw, job=NAME))

    def _report(self, ctx) -> None:
        if not self.progress.due(self.totals, ctx):
            return
        window = self.steps["decide"]
        print(format_report(self.subtask, self.totals, {"decide_p95_us": int(window.percentile(95)),
                                          "decide_p99_us": int(window.percentile(99))}), flush=True)


def _framed(records):
    """Records -> frames of at most FRAME_RECORDS records: one JVM crossing per frame, and a message
    with a huge fan-out never becomes one giant value."""
    chunk = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= FRAME_RECORDS:
            yield frames.pack(chunk)
            chunk = []
    if chunk:
        yield frames.pack(chunk)


def build(env: StreamExecutionEnvironment, settings: Settings) -> None:
    options = DedupeSettings.from_env()
    codec = AvroCodec()
    config_topics = [topic(settings.topic_prefix, "destinations.config"), topic(settings.topic_prefix, "dedupe.rollout")]
    expected = expected_config(read_to_end(settings, config_topics), codec)
    config = (
        env.from_source(kafka_source(settings, config_topics, group_id=f"headwater-{NAME}-config", raw_bytes=True),
                        WatermarkStrategy.no_watermarks(), "destinations.config + dedupe.rollout")
        .uid(f"{NAME}-config-source")
        .broadcast(CONFIG_STATE)
    )
    inputs = [topic(settings.topic_prefix, "compute.output"), topic(settings.topic_prefix, "identity.profiles")]
    records = (
        env.from_source(kafka_source(settings, inputs, group_id=f"headwater-{NAME}", raw_bytes=True),
                        WatermarkStrategy.no_watermarks(), "compute.output + identity.profiles")
        .uid(f"{NAME}-source")
    )
    decided = (
        tenant_batches(records, options.batch_records, options.batch_delay_ms, uid=f"{NAME}-batches")
        .connect(config)
        .process(DedupeMessages(settings, options, expected), output_type=frame_type())
        .uid(f"{NAME}-decide")
        .name("dedupe decisions and ID groups")
    )
    framed_exactly_once_sink(decided, settings, [topic(settings.topic_prefix, suffix) for suffix in OUTPUTS],
                             transactional_id_prefix=f"headwater-{NAME}", uid=f"{NAME}-sink")
