"""When a shard's pending deltas are flushed to MongoDB, and what one flush does with them.

A shard's deltas wait in Flink state until it holds `max_deltas` of them, or `max_delay_ms` after the
first of a batch (a processing-time timer): big enough batches to coalesce and to fill bulk commands,
and a bound on how late a delta reaches MongoDB. When MongoDB does not answer (a ping first; then
the writer's retry window), or refuses every write for a reason of the deployment (credentials,
permissions, database name, write concern: StoreMisconfigured), the flush is deferred: the deltas
stay in Flink state, the shard tries again `retry_ms` later and not before (no flush per arriving
delta meanwhile), and between tries the task thread is free, so checkpoints go on through an outage
of any length.
A flush decodes and coalesces the batch (batch.py), writes it (writer.py), and turns what could not be
written into rejections with reason codes.
Pure but for the writer it is handed, so the policy is tested without Flink or MongoDB.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.contracts.rejections import Reason, Rejection
from common.serde.avro import AvroCodec
from jobs.reaction_streaming.batch import plan
from jobs.reaction_streaming.records import encode_rejection
from jobs.reaction_streaming.writer import StoreMisconfigured, StoreUnavailable

COUNTS = ("deltas", "writes", "applied", "stale", "refused", "retries", "flushes", "deferred")


@dataclass(frozen=True)
class FlushPolicy:
    max_deltas: int
    max_delay_ms: int
    retry_ms: int = 10_000  # after MongoDB did not answer: when to try the shard's deltas again

    def timer_for(self, pending: int, now_ms: int) -> int | None:
        """When to flush a shard that now holds `pending` deltas by time: set by the first of a batch."""
        return now_ms + self.max_delay_ms if pending == 1 else None

    def full(self, pending: int) -> bool:
        return pending >= self.max_deltas


@dataclass
class Flushed:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    rejected: list[bytes] = field(default_factory=list)  # encoded `rejected` records
    latencies_ms: list[float] = field(default_factory=list)
    coalescing_ratio: float = 0.0
    deferred: bool = False  # MongoDB did not answer: the caller keeps the records and tries again later
    misconfigured: str = ""  # deferred because MongoDB refuses every write of ours: why (to fix)
    refused_versions: dict[str, set[int]] = field(default_factory=dict)  # doc -> versions sent to hw.rejected
    held: dict[str, list[bytes]] = field(default_factory=dict)  # doc -> raw deltas not sent behind a refusal


def flush(records: list[bytes], codec: AvroCodec, writer, now_ms: int) -> Flushed:
    """Write a batch of raw deltas with `writer` (a MongoWriter); what happened, and the rejections of
    deltas that are undecodable or that MongoDB refused."""
    out = Flushed()
    if not records:
        return out
    try:
        if not writer.available():  # checked before decoding: a long outage piles up deltas
            out.deferred, out.counts["deferred"] = True, 1
            return out
        batch = plan(records, codec)
        outcome = writer.apply(batch.writes)
    except StoreUnavailable:
        out.deferred, out.counts["deferred"] = True, 1
        return out
    except StoreMisconfigured as exc:  # not the documents' fault: refuse none, keep them all
        out.deferred, out.counts["deferred"], out.misconfigured = True, 1, str(exc)
        return out
    out.latencies_ms = outcome.latencies_ms
    out.coalescing_ratio = batch.deltas / batch.write_count if batch.write_count else 0.0
    out.counts.update(
        deltas=batch.deltas,
        writes=batch.write_count,
        applied=outcome.applied,
        stale=outcome.stale,
        refused=len(outcome.refused),
        retries=outcome.retries,
        flushes=1,
    )
    for raw, why in batch.undecodable:
        out.rejected.append(encode_rejection(codec, Rejection(Reason.INVALID_DELTA, why), raw, None, now_ms))
    for refused in outcome.refused:
        detail = (
            f"MongoDB error {refused.code}: {refused.detail}; the document waits for this delta: fix it, then "
            f"`headwater rejected redrive --reason WRITE_REFUSED`"
        )
        for raw, delta in batch.deltas_of(refused.write):
            out.rejected.append(encode_rejection(codec, Rejection(Reason.WRITE_REFUSED, detail), raw, delta, now_ms))
            out.refused_versions.setdefault(refused.write.doc_id, set()).add(delta["version"])
    for write in outcome.held:
        out.held.setdefault(write.doc_id, []).extend(raw for raw, _ in batch.deltas_of(write))
    return out
