"""reaction-streaming's operator: it keeps each shard's pending deltas in Flink state and flushes them
to MongoDB by the flush policy (flushing.py)."""

from __future__ import annotations

import time
from collections import deque

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction
from pyflink.datastream.state import ListStateDescriptor, MapStateDescriptor

from common.config import Settings
from common.contracts.rejections import Reason, Rejection
from common.flink.progress import ProgressThrottle
from common.flink.shipped_code import ShippedFunction
from common.log import configure_job as configure_logging
from common.log import get_logger
from common.metrics import LatencyWindow, PushedGauges, register_freshness
from common.serde.avro import AvroCodec
from jobs.reaction_streaming.flushing import COUNTS, FlushPolicy, flush
from jobs.reaction_streaming.parking import Parked, park, sort_out
from jobs.reaction_streaming.records import encode_rejection
from jobs.reaction_streaming.report import format_report
from jobs.reaction_streaming.settings import ReactionSettings
from jobs.reaction_streaming.writer import MongoWriter

log = get_logger(__name__)

REPORT_EVERY_S = 2.0
FRESHNESS_SAMPLE = 10_000  # per shard, the timestamps of pending deltas kept for the freshness gauges
PARKING_COUNTS = ("parked_deltas", "parked_overflow", "documents_parked", "documents_released")
# State names are part of every savepoint: renaming one loses what it held (tests/unit/test_state_layouts.py).
PENDING = ListStateDescriptor("pending", Types.PICKLED_BYTE_ARRAY())
# Per shard: doc id -> Parked.pack() of a document a refused write parked (parking.py).
PARKED = MapStateDescriptor("parked", Types.STRING(), Types.PICKLED_BYTE_ARRAY())


def mongo_writer(settings: Settings, options: ReactionSettings) -> tuple[object, MongoWriter]:
    """(client, writer) for the job's MongoDB."""
    from pymongo import MongoClient

    client = MongoClient(
        settings.mongo_uri,
        serverSelectionTimeoutMS=options.connect_timeout_ms,
        connectTimeoutMS=options.connect_timeout_ms,
        socketTimeoutMS=options.socket_timeout_ms,
        maxPoolSize=max(options.pool_size, options.commands_in_flight),
    )
    writer = MongoWriter(
        client[settings.mongo_database],
        options.statements_per_command,
        in_flight=options.commands_in_flight,
        retry_window_s=options.retry_window_ms / 1000,
    )
    return client, writer


class ApplyDeltas(ShippedFunction, KeyedProcessFunction):
    """Keyed by shard. Pending deltas are part of every checkpoint, so a delta that a completed
    checkpoint has passed is either in MongoDB or in the restored state, and is written again
    (harmlessly: writes are version-gated) after a restore."""

    def __init__(self, settings: Settings, options: ReactionSettings, connect=mongo_writer):
        self.settings = settings
        self.options = options
        self.policy = FlushPolicy(options.max_deltas, options.max_delay_ms, options.retry_window_ms)
        self.connect = connect

    def open(self, runtime_context):
        configure_logging()
        self.codec = AvroCodec()
        # Pickled: PyFlink's thread mode cannot put Python bytes into a ListState of byte arrays.
        self.pending = runtime_context.get_list_state(PENDING)
        self.parked_state = runtime_context.get_map_state(PARKED)
        self.parked: dict[int, dict[str, Parked]] = {}  # shard -> its parked documents (read once per run)
        self.counts: dict[int, int] = {}  # pending deltas per shard since its last flush (this run)
        self.retry_at: dict[int, int] = {}  # shard -> when its deferred batch is tried again (ms)
        self.store_down_until = 0  # MongoDB did not answer: no shard tries again before this (ms)
        self.client, self.writer = self.connect(self.settings, self.options)
        metrics = runtime_context.get_metrics_group()
        self.counters = {name: metrics.counter(name) for name in (*COUNTS, *PARKING_COUNTS)}
        self.latencies = LatencyWindow()
        self.totals = dict.fromkeys(COUNTS, 0)
        self.progress = ProgressThrottle(self.totals, REPORT_EVERY_S)
        self.last = {"batch_size": 0, "coalescing_ratio": 0.0}
        self.gauges = PushedGauges(metrics)
        self.gauges.add("batch_size", lambda: self.last["batch_size"])
        self.gauges.add("coalescing_ratio_x100", lambda: self.last["coalescing_ratio"] * 100)
        self.gauges.add("write_latency_p50_ms", lambda: self._percentile(50))
        self.gauges.add("write_latency_p99_ms", lambda: self._percentile(99))
        self.freshness = LatencyWindow()
        register_freshness(self.gauges, self.freshness)
        self.ingest_times: dict[int, deque] = {}

    def close(self):
        self.writer.close()
        if self.client is not None:
            self.client.close()

    def _percentile(self, p: int) -> int:
        return int(self.latencies.percentile(p))

    def process_element(self, value, ctx):
        self.pending.add(bytes(value))
        shard = ctx.get_current_key()
        self._ingested(shard).append(ctx.timestamp())
        count = self.counts.get(shard, 0) + 1
        self.counts[shard] = count
        timers = ctx.timer_service()
        at = self.policy.timer_for(count, timers.current_processing_time())
        if at is not None:
            timers.register_processing_time_timer(at)
        if self.policy.full(count) and shard not in self.retry_at:
            yield from self._flush(shard, ctx)

    def _ingested(self, shard: int) -> deque:
        """The Kafka timestamps (= the ingest records', carried along) of the shard's pending deltas, for
        the freshness gauges at the MongoDB acknowledgement. Not in Flink state: after a restore the
        restored deltas are written unmeasured. Bounded: a long outage keeps the newest only."""
        times = self.ingest_times.get(shard)
        if times is None:
            times = self.ingest_times[shard] = deque(maxlen=FRESHNESS_SAMPLE)
        return times

    def _defer(self, shard: int, pending: int, timers) -> None:
        """The shard's deltas stay in state; it tries again once MongoDB may be back."""
        self.counts[shard] = pending
        self.retry_at[shard] = self.store_down_until
        timers.register_processing_time_timer(self.store_down_until)
        for name in ("deferred", "retries"):  # a deferral is a retry of the progress line's `retries`
            self.counters[name].inc()
            self.totals[name] += 1

    def on_timer(self, timestamp, ctx):
        shard = ctx.get_current_key()
        if timestamp >= self.retry_at.get(shard, 0):  # a deferred shard waits for its retry timer
            yield from self._flush(shard, ctx)

    def _flush(self, shard: int, ctx):
        timers = ctx.timer_service()
        records = list(self.pending.get() or [])
        if records and timers.current_processing_time() < self.store_down_until:
            # Another shard found MongoDB down moments ago: do not knock again (each knock may hold the
            # task thread for the server selection timeout, and checkpoint barriers wait behind it).
            self._defer(shard, len(records), timers)
            return
        self.pending.clear()
        self.counts[shard] = 0
        parked = self._parked(shard)
        now_ms = int(time.time() * 1000)
        waiting = sort_out(records, parked, self.codec, self.options.parked_max)
        flushed = flush(waiting.to_write, self.codec, self.writer, now_ms)
        if flushed.deferred:  # MongoDB did not answer: keep the batch in state, try again later
            self.pending.update(waiting.to_write)
            yield from self._settle_parking(parked, waiting, flushed, now_ms)
            self.store_down_until = timers.current_processing_time() + self.policy.retry_ms
            if flushed.misconfigured:  # no rejection flood: nothing is written until the deployment is fixed
                log.error(
                    f"reaction-streaming: MongoDB refuses Headwater's writes ({flushed.misconfigured}): fix "
                    f"HEADWATER_MONGO_URI (credentials, permissions, database); pending deltas stay in Flink "
                    f"state and are written once it is fixed; next try in {self.policy.retry_ms} ms"
                )
            else:
                log.warning(
                    f"reaction-streaming: MongoDB does not answer; pending deltas stay in Flink state, "
                    f"next try in {self.policy.retry_ms} ms"
                )
            self._defer(shard, len(waiting.to_write), timers)
            return
        self.retry_at.pop(shard, None)
        yield from self._settle_parking(parked, waiting, flushed, now_ms)
        acknowledged_ms = time.time() * 1000
        self.freshness.extend(acknowledged_ms - t for t in self.ingest_times.pop(shard, ()) if t)
        if flushed.counts["flushes"]:
            self.latencies.extend(flushed.latencies_ms)
            self.last.update(batch_size=flushed.counts["deltas"], coalescing_ratio=flushed.coalescing_ratio)
            for name, n in flushed.counts.items():
                self.counters[name].inc(n)
                self.totals[name] += n
        self.gauges.push()
        yield from flushed.rejected
        if self.progress.due(self.totals, ctx):
            log.info(format_report(self.totals, self._percentile(50), self._percentile(99)))

    def _parked(self, shard: int) -> dict[str, Parked]:
        parked = self.parked.get(shard)
        if parked is None:
            parked = self.parked[shard] = {doc: Parked.unpack(v) for doc, v in self.parked_state.items()}
        return parked

    def _settle_parking(self, parked: dict[str, Parked], waiting, flushed, now_ms: int):
        """Park the documents the flush refused, store what changed, refuse what did not fit."""
        changed = waiting.changed | park(parked, flushed.refused_versions, flushed.held)
        for doc in changed:
            if doc in parked:
                self.parked_state.put(doc, parked[doc].pack())
            else:
                self.parked_state.remove(doc)
        self.counters["parked_deltas"].inc(waiting.held + sum(len(r) for r in flushed.held.values()))
        self.counters["documents_parked"].inc(len(flushed.refused_versions))
        self.counters["documents_released"].inc(len(waiting.released))
        self.counters["parked_overflow"].inc(len(waiting.overflow))
        for raw in waiting.overflow:
            delta = self.codec.decode(raw, "state_delta")
            why = (
                f"document {delta['doc_id']} is parked (a write of it was refused) and already holds "
                f"{self.options.parked_max} waiting deltas: redrive its refused deltas first"
            )
            yield encode_rejection(self.codec, Rejection(Reason.WRITE_REFUSED, why), raw, delta, now_ms)
