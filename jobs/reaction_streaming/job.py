"""reaction-streaming: `hw.state.deltas` -> coalesced, version-gated bulk writes to MongoDB (+ `hw.rejected`).

Wiring only (rules: coalesce.py, requests.py, batch.py; I/O: writer.py):
  KafkaSource (raw bytes, read_committed) -> key by shard of doc_id -> ApplyDeltas -> MongoDB
  refused deltas -> exactly-once sink to hw.rejected

ApplyDeltas keeps the deltas of its shard in Flink ListState until a flush: when the shard holds
`HEADWATER_REACTION_MAX_DELTAS` deltas, or `HEADWATER_REACTION_MAX_DELAY_MS` after its first pending
one (a processing-time timer). Pending deltas are part of every checkpoint, so a delta that a
completed checkpoint has passed is either in MongoDB or in the restored state, and is written again
(harmlessly: writes are version-gated) after a restore.
"""

from __future__ import annotations

import os
import time
import zlib
from dataclasses import dataclass

from pyflink.common import Types, WatermarkStrategy
from pyflink.datastream import KeyedProcessFunction, StreamExecutionEnvironment
from pyflink.datastream.state import ListStateDescriptor

from common.config import MONGO_MAX_STATEMENTS_PER_COMMAND, Settings, positive_ints
from common.flink import uids
from common.flink.kafka import exactly_once_sink, kafka_source
from common.flink.progress import ProgressThrottle
from common.metrics import LatencyWindow
from common.serde.avro import AvroCodec
from common.serde.peek import delta_doc_id
from common.topics import topic
from jobs.api_unification.output import rejected_record
from jobs.api_unification.reasons import Reason, Rejection
from jobs.reaction_streaming.batch import plan
from jobs.reaction_streaming.report import format_report
from jobs.reaction_streaming.writer import MongoWriter

NAME = "reaction-streaming"
BYTES = Types.PRIMITIVE_ARRAY(Types.BYTE())
# Documents are spread over this many keys; each flushes on its own. More shards than subtasks lets
# the job rescale (up to SHARDS subtasks) without changing which shard a document belongs to.
SHARDS = 8
REPORT_EVERY_S = 2.0


@dataclass(frozen=True)
class BatchPolicy:
    max_deltas: int = 4096
    max_delay_ms: int = 1000

    @staticmethod
    def from_env(env=os.environ) -> "BatchPolicy":
        return BatchPolicy(**positive_ints(env, {"max_deltas": "HEADWATER_REACTION_MAX_DELTAS",
                                                 "max_delay_ms": "HEADWATER_REACTION_MAX_DELAY_MS"}))


def shard_of(raw: bytes) -> int:
    """Stable across processes and replays (unlike Python's hash of a str)."""
    try:
        return zlib.crc32(delta_doc_id(raw).encode()) % SHARDS
    except Exception:  # undecodable: any shard will do; ApplyDeltas refuses it with a reason
        return 0


class ApplyDeltas(KeyedProcessFunction):
    def __init__(self, settings: Settings, policy: BatchPolicy):
        self.settings = settings
        self.policy = policy

    def open(self, runtime_context):
        from pymongo import MongoClient

        self.codec = AvroCodec()
        # Pickled: PyFlink's thread mode cannot put Python bytes into a ListState of byte arrays.
        self.pending = runtime_context.get_list_state(ListStateDescriptor("pending", Types.PICKLED_BYTE_ARRAY()))
        self.counts: dict[int, int] = {}
        self.client = MongoClient(self.settings.mongo_uri, serverSelectionTimeoutMS=5000, connectTimeoutMS=5000,
                                  socketTimeoutMS=60000, maxPoolSize=4)
        self.writer = MongoWriter(self.client[self.settings.mongo_database], MONGO_MAX_STATEMENTS_PER_COMMAND)
        metrics = runtime_context.get_metrics_group()
        self.counters = {name: metrics.counter(name) for name in
                         ("deltas", "writes", "applied", "stale", "refused", "retries", "flushes")}
        self.latencies = LatencyWindow()
        self.totals = dict.fromkeys(self.counters, 0)
        self.progress = ProgressThrottle(self.totals, REPORT_EVERY_S)
        self.last = {"batch_size": 0, "coalescing_ratio": 0.0}
        metrics.gauge("batch_size", lambda: self.last["batch_size"])
        metrics.gauge("coalescing_ratio_x100", lambda: int(self.last["coalescing_ratio"] * 100))
        metrics.gauge("write_latency_p50_ms", lambda: self._percentile(50))
        metrics.gauge("write_latency_p99_ms", lambda: self._percentile(99))

    def close(self):
        self.client.close()

    def _percentile(self, p: int) -> int:
        return int(self.latencies.percentile(p))

    def process_element(self, value, ctx):
        self.pending.add(bytes(value))
        shard = ctx.get_current_key()
        count = self.counts.get(shard, 0) + 1
        self.counts[shard] = count
        if count == 1:
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + self.policy.max_delay_ms)
        if count >= self.policy.max_deltas:
            yield from self._flush(shard, ctx)

    def on_timer(self, timestamp, ctx):
        yield from self._flush(ctx.get_current_key(), ctx)

    def _report(self, ctx) -> None:
        if self.progress.due(self.totals, ctx):
            print(format_report(self.totals, self._percentile(50), self._percentile(99)), flush=True)

    def _flush(self, shard: int, ctx):
        records = list(self.pending.get() or [])
        self.pending.clear()
        self.counts[shard] = 0
        if not records:
            self._report(ctx)
            return
        batch = plan(records, self.codec)
        outcome = self.writer.apply(batch.writes)
        self.latencies.extend(outcome.latencies_ms)
        self.last.update(batch_size=batch.deltas,
                         coalescing_ratio=batch.deltas / batch.write_count if batch.write_count else 0.0)
        for name, n in (("deltas", batch.deltas), ("writes", batch.write_count), ("applied", outcome.applied),
                        ("stale", outcome.stale), ("refused", len(outcome.refused)), ("retries", outcome.retries),
                        ("flushes", 1)):
            self.counters[name].inc(n)
            self.totals[name] += n
        now = int(time.time() * 1000)
        for raw, why in batch.undecodable:
            yield self._rejected(Rejection(Reason.INVALID_DELTA, why), raw, None, now)
        for refused in outcome.refused:
            detail = f"MongoDB error {refused.code}: {refused.detail}"
            for raw, delta in batch.deltas_of(refused.write):
                yield self._rejected(Rejection(Reason.WRITE_REFUSED, detail), raw, delta, now)
        self._report(ctx)

    def _rejected(self, rejection: Rejection, raw: bytes, delta: dict | None, now_ms: int) -> bytes:
        return self.codec.encode("rejected", rejected_record(
            rejection, source="state.deltas", tenant=delta["tenant"] if delta else None,
            message_id=delta["message_id"] if delta else None, arrival_ms=now_ms, original=raw, job=NAME))


def build(env: StreamExecutionEnvironment, settings: Settings) -> None:
    policy = BatchPolicy.from_env()
    deltas = (env.from_source(kafka_source(settings, topic(settings.topic_prefix, "state.deltas"),
                                          group_id=f"headwater-{NAME}", raw_bytes=True),
                              WatermarkStrategy.no_watermarks(), "state.deltas")
              .uid(f"{NAME}-source"))
    refused = (
        uids.key_by(deltas, lambda raw: shard_of(bytes(raw)), Types.INT(), f"{NAME}-key-by-shard")
        .process(ApplyDeltas(settings, policy), output_type=BYTES)
        .uid(f"{NAME}-apply-deltas")
        .name("coalesce and write to MongoDB")
    )
    (refused.sink_to(exactly_once_sink(settings, topic(settings.topic_prefix, "rejected"),
                                       transactional_id_prefix=f"headwater-{NAME}-rejected"))
     .uid(f"{NAME}-sink-rejected").name("exactly-once sink to rejected"))
