"""profile-dedupe: computation messages -> dedupe decisions -> one outbound event per ID group.

Wiring only (rules: decide.py, process.py, engine.py; levers: rollout.py, comparator.py):
  KafkaSource(hw.compute.output + hw.identity.profiles) -> key by tenant ─┐
  KafkaSource(hw.destinations.config + hw.dedupe.rollout) -> broadcast ───┴> DedupeMessages
  -> frames -> one exactly-once sink: hw.delivery.outbound, hw.dedupe.mismatches, hw.rejected

Keyed by tenant: a merge reads the state of the profiles it merges, which are all the tenant's.
A message waits (in Flink ListState, in arrival order per tenant) while a profile it reads (its own;
for a merge, the merged ones too) is not known yet (up to HEADWATER_DEDUPE_PROFILE_WAIT_MS) or the config snapshot taken at submit time is not yet in
the broadcast state (up to HEADWATER_DEDUPE_CONFIG_WAIT_MS); see config.py.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from pyflink.common import Time, Types, WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import KeyedBroadcastProcessFunction
from pyflink.datastream.state import ListStateDescriptor, MapStateDescriptor, StateTtlConfig

from common.config import ConfigError, Settings
from common.flink.kafka import frame_type, framed_exactly_once_sink, kafka_source
from common.kafka.snapshot import read_to_end
from common.metrics import LatencyWindow
from common.serde import frames
from common.serde.avro import AvroCodec, SerdeError
from common.serde.peek import first_string
from common.topics import topic
from jobs.api_unification.output import rejected_record
from jobs.api_unification.reasons import Reason, Refusal, Rejection
from jobs.profile_dedupe.comparator import ShadowComparator
from jobs.profile_dedupe.config import ConfigReadiness, apply_config, config_key, digest, expected_config
from jobs.profile_dedupe.decide import BRANCHES
from jobs.profile_dedupe.engine import DedupeEngine, DestinationIndex
from jobs.profile_dedupe.model import message_from_record, profile_from_record
from jobs.profile_dedupe.process import OUTBOUND, MessageOutcome, profiles_read_by
from jobs.profile_dedupe.report import FIELDS, format_report
from jobs.profile_dedupe.rollout import Rollout

NAME = "profile-dedupe"
OUTPUTS = ("delivery.outbound", "dedupe.mismatches", "rejected")  # frame output index -> topic suffix
OUTBOUND_OUT, MISMATCH_OUT, REJECTED_OUT = range(len(OUTPUTS))
CONFIG_STATE = MapStateDescriptor("config", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
RETRY_MS = 200
REPORT_EVERY_S = 2.0
FRAME_RECORDS = 200  # a message with a huge fan-out is emitted in several frames, not one giant value


@dataclass(frozen=True)
class DedupeSettings:
    profile_wait_ms: int = 10_000
    config_wait_ms: int = 30_000
    seen_hours: int = 7 * 24
    comparator_cap: int = 10_000

    @staticmethod
    def from_env(env=os.environ) -> "DedupeSettings":
        values = {}
        for field, variable in (("profile_wait_ms", "HEADWATER_DEDUPE_PROFILE_WAIT_MS"),
                                ("config_wait_ms", "HEADWATER_DEDUPE_CONFIG_WAIT_MS"),
                                ("seen_hours", "HEADWATER_DEDUPE_WINDOW_HOURS"),
                                ("comparator_cap", "HEADWATER_DEDUPE_COMPARATOR_CAP")):
            raw = env.get(variable)
            if raw is None:
                continue
            if not raw.isdigit() or int(raw) <= 0:
                raise ConfigError(f"{variable}={raw!r} must be a positive integer")
            values[field] = int(raw)
        return DedupeSettings(**values)


def tenant_of(raw) -> str:
    """The key: the tenant, first field of both input schemas. Undecodable input goes to key "" and is
    refused there with a reason."""
    try:
        return first_string(bytes(raw))
    except Exception:
        return ""


class _Timed:
    """A MapState read through a per-message memo, timing the state calls (the `state` latency step)."""

    def __init__(self, state, clock):
        self.state, self.clock, self.memo = state, clock, {}

    def begin(self):
        self.memo.clear()

    def get(self, key):
        if key not in self.memo:
            started = time.perf_counter()
            self.memo[key] = self.state.get(key)
            self.clock[0] += time.perf_counter() - started
        return self.memo[key]

    def put(self, key, value):
        started = time.perf_counter()
        self.memo[key] = value
        self.state.put(key, value)
        self.clock[0] += time.perf_counter() - started

    def remove(self, key):
        self.memo[key] = None
        self.state.remove(key)


class DedupeMessages(KeyedBroadcastProcessFunction):
    def __init__(self, settings: Settings, options: DedupeSettings, expected: dict[str, str]):
        self.settings = settings
        self.options = options
        self.expected = expected

    def open(self, runtime_context):
        self.codec = AvroCodec()
        self.state_clock = [0.0]
        pickled = Types.PICKLED_BYTE_ARRAY()
        self.profiles = _Timed(runtime_context.get_map_state(MapStateDescriptor("profiles", Types.STRING(), pickled)),
                               self.state_clock)
        seen = MapStateDescriptor("seen", Types.STRING(), Types.LONG())
        seen.enable_time_to_live(StateTtlConfig.new_builder(Time.hours(self.options.seen_hours)).build())
        self.seen = _Timed(runtime_context.get_map_state(seen), self.state_clock)
        self.parked = runtime_context.get_list_state(ListStateDescriptor("parked", pickled))
        self.parked_len: dict[str, int] = {}
        spill = os.path.join(self.settings.data_dir, "profile-dedupe", "comparator")
        self.engine = DedupeEngine(ShadowComparator(spill, cap=self.options.comparator_cap))
        self.index: DestinationIndex | None = None
        self.rollout = Rollout()
        self.readiness = ConfigReadiness(self.expected)
        self.config_wait_started: float | None = None
        metrics = runtime_context.get_metrics_group()
        self.metrics = metrics
        self.totals = dict.fromkeys(FIELDS, 0)
        self.counters = {name: metrics.counter(name) for name in FIELDS + ("profile_wait_timeouts", "config_wait_timeouts")}
        self.branch_counters = {}
        for branch in BRANCHES:
            self._branch_counter(branch)
            self._branch_counter(f"shadow.{branch}")
        self.steps = {step: LatencyWindow() for step in ("decide", "state", "encode")}
        for step, window in self.steps.items():
            for p in (95, 99):
                metrics.gauge(f"{step}_latency_p{p}_us", lambda w=window, p=p: int(w.percentile(p)))
        self.reported, self.reported_at = dict(self.totals), 0.0

    def _branch_counter(self, branch: str):
        counter = self.branch_counters.get(branch)
        if counter is None:
            counter = self.branch_counters[branch] = self.metrics.counter("branch_" + branch.replace(".", "_"))
        return counter

    def _count(self, name: str, n: int = 1) -> None:
        if name in self.totals:
            self.totals[name] += n
        self.counters[name].inc(n)

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
        self.counters["config_wait_timeouts"].inc()
        self.readiness.missing.clear()
        return True

    # -- messages and profiles (keyed side) ----------------------------------------------------

    def process_element(self, value, ctx):
        raw = bytes(value)
        self._load_config(ctx)
        tenant = ctx.get_current_key()
        try:
            schema = self.codec.writer_of(raw).name
            record = self.codec.decode(raw)
        except SerdeError as exc:
            self._count("messages")
            yield self._reject_frame(Rejection(Reason.INVALID_RECORD, str(exc)), raw, None)
            return
        if schema == "identity_profile":
            self.profiles.begin()
            user_id, update = profile_from_record(record)
            self.engine.on_profile(self.profiles, user_id, update)
            self._count("profiles")
            if self._parked_count(tenant):
                yield from self._release(ctx)
            self._report(ctx)
            return
        self._count("messages")
        if schema != "compute_message":
            yield self._reject_frame(Rejection(Reason.INVALID_RECORD, f"a {schema} record on the compute input"),
                                     raw, record)
            return
        try:
            message = message_from_record(record)
        except Refusal as refusal:
            yield self._reject_frame(Rejection.of(refusal), raw, record)
            return
        now = ctx.timer_service().current_processing_time()
        if self._parked_count(tenant) or not self._can_process(message, waited_ms=0):
            self._park(ctx, tenant, raw, now)
        else:
            yield from self._handle(message)
        self._report(ctx)

    def on_timer(self, timestamp, ctx):
        self._load_config(ctx)
        if self._parked_count(ctx.get_current_key()):
            yield from self._release(ctx)
        self._report(ctx)

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
        if not self._config_ready():
            return False
        self.profiles.begin()
        if all(self.engine.known(self.profiles, p) for p in profiles_read_by(message)):
            return True
        if waited_ms >= self.options.profile_wait_ms:
            self.counters["profile_wait_timeouts"].inc()
            return True
        return False

    def _release(self, ctx):
        """Handle parked messages from the oldest while they can go; keep the rest, in order."""
        tenant = ctx.get_current_key()
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
        self.profiles.begin()
        self.seen.begin()
        outcome = MessageOutcome()
        started, encoding = time.perf_counter(), 0.0
        self.state_clock[0] = 0.0
        records = []
        key = f"{message.tenant}:{message.profile_id}".encode()
        for kind, record in self.engine.on_message(self.profiles, self.seen, message, self.index, self.rollout,
                                                   outcome):
            encode_started = time.perf_counter()
            if kind == OUTBOUND:
                records.append((OUTBOUND_OUT, key, self.codec.encode("outbound_event", record)))
            else:
                records.append((MISMATCH_OUT, key, self.codec.encode("dedupe_mismatch", record)))
            if len(records) >= FRAME_RECORDS:
                yield frames.pack(records)
                records = []
            encoding += time.perf_counter() - encode_started
        if records:
            encode_started = time.perf_counter()
            frame = frames.pack(records)
            encoding += time.perf_counter() - encode_started
            yield frame
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
        for branch, n in outcome.branches.items():
            self._branch_counter(branch).inc(n)

    def _reject_frame(self, rejection: Rejection, raw: bytes, record: dict | None) -> bytes:
        self._count("rejected")
        return frames.pack([(REJECTED_OUT, b"", self._rejected(rejection, raw, record, "compute.output"))])

    def _rejected(self, rejection: Rejection, raw: bytes, record: dict | None, source: str) -> bytes:
        record = record or {}
        return self.codec.encode("rejected", rejected_record(
            rejection, source=source, tenant=record.get("tenant"), message_id=record.get("message_id"),
            arrival_ms=int(time.time() * 1000), original=raw, job=NAME))

    def _report(self, ctx) -> None:
        """A progress line at most every REPORT_EVERY_S (stdout: in thread mode stderr is an unread
        pipe), and a timer so the last totals of a burst are printed too."""
        if self.totals == self.reported:
            return
        now = time.monotonic()
        if now - self.reported_at < REPORT_EVERY_S:
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + int(REPORT_EVERY_S * 1000))
            return
        self.reported, self.reported_at = dict(self.totals), now
        window = self.steps["decide"]
        print(format_report(self.totals, {"decide_p95_us": int(window.percentile(95)),
                                          "decide_p99_us": int(window.percentile(99))}), flush=True)


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
    decided = (
        env.from_source(kafka_source(settings, inputs, group_id=f"headwater-{NAME}", raw_bytes=True),
                        WatermarkStrategy.no_watermarks(), "compute.output + identity.profiles")
        .uid(f"{NAME}-source")
        .key_by(tenant_of, key_type=Types.STRING())
        .connect(config)
        .process(DedupeMessages(settings, options, expected), output_type=frame_type())
        .uid(f"{NAME}-decide")
        .name("dedupe decisions and ID groups")
    )
    framed_exactly_once_sink(decided, settings, [topic(settings.topic_prefix, suffix) for suffix in OUTPUTS],
                             transactional_id_prefix=f"headwater-{NAME}", uid=f"{NAME}-sink")
