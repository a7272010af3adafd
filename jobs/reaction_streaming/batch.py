"""A flushed batch of raw state deltas -> writes per document, and what cannot be written.

Pure. The job keeps raw delta bytes in Flink state until a flush; here they are decoded, grouped by
document (in the order they came), coalesced, and indexed so that a refused write can be traced back
to the exact deltas it carried.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.serde.avro import AvroCodec, SerdeError
from jobs.reaction_streaming.coalesce import Write, coalesce


@dataclass
class Plan:
    writes: list[list[Write]] = field(default_factory=list)  # per document, in apply order
    deltas: int = 0
    originals: dict[tuple[str, int], tuple[bytes, dict]] = field(
        default_factory=dict
    )  # (doc_id, version) -> raw, decoded
    undecodable: list[tuple[bytes, str]] = field(default_factory=list)  # raw, why

    @property
    def write_count(self) -> int:
        return sum(len(w) for w in self.writes)

    def deltas_of(self, write: Write) -> list[tuple[bytes, dict]]:
        return [self.originals[(write.doc_id, v)] for v in write.versions]


def plan(records: list[bytes], codec: AvroCodec) -> Plan:
    out = Plan()
    by_document: dict[tuple[str, str], list[dict]] = {}
    for raw in records:
        try:
            delta = codec.decode(raw, "state_delta")
        except (SerdeError, ValueError, EOFError, KeyError) as exc:
            out.undecodable.append((raw, f"{type(exc).__name__}: {exc}"))
            continue
        out.deltas += 1
        by_document.setdefault((delta["collection"], delta["doc_id"]), []).append(delta)
        out.originals.setdefault((delta["doc_id"], delta["version"]), (raw, delta))
    out.writes = [coalesce(deltas) for deltas in by_document.values()]
    return out
