"""Documents parked after MongoDB refused a write of them: no document holds a newer version with an
older change missing.

A write refused for a reason of the document (a type clash, a size limit) sends its deltas to
`hw.rejected` (WRITE_REFUSED). Writing the document's later deltas anyway would give it a version whose
history lacks those changes, for ever: the version gate would then skip the refused ones when they
come back. So the document is parked:

- `refused`: the versions that went to `hw.rejected`; they must come back (`headwater rejected
  redrive`, after the document or the data is fixed) before the document is written again;
- `waiting`: the document's later deltas, in arrival order, at most `max_waiting` (a setting); past
  that a delta is refused too, and its version joins `refused`.

When the last refused version has come back, the document is released: its waiting deltas and the
redriven ones are written together, in version order (coalesce.py). Refused again, it parks again.
Pure: the operator keeps one `Parked` per parked document in keyed MapState (operators.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.serde.avro import AvroCodec, SerdeError
from common.serde.peek import delta_doc_id


@dataclass
class Parked:
    refused: set[int] = field(default_factory=set)
    waiting: list[bytes] = field(default_factory=list)

    def pack(self) -> tuple:
        return (sorted(self.refused), list(self.waiting))

    @staticmethod
    def unpack(packed) -> Parked:
        refused, waiting = packed
        return Parked(set(refused), list(waiting))


@dataclass
class Sorted:
    to_write: list[bytes] = field(default_factory=list)
    overflow: list[bytes] = field(default_factory=list)  # refused: the document's waiting list is full
    changed: set[str] = field(default_factory=set)  # parked documents whose entry changed (or went)
    released: list[str] = field(default_factory=list)
    held: int = 0  # deltas that joined a waiting list


def sort_out(records: list[bytes], parked: dict[str, Parked], codec: AvroCodec, max_waiting: int) -> Sorted:
    """Split a flush's records: those of parked documents wait (or release the document), the rest are
    written. `parked` is updated in place: released documents leave it."""
    out = Sorted()
    if not parked:
        out.to_write = records
        return out
    for raw in records:
        try:
            doc = delta_doc_id(raw)
        except Exception:  # noqa: BLE001 - undecodable: the flush refuses it with a reason
            doc = None
        entry = parked.get(doc) if doc is not None else None
        if entry is None:
            out.to_write.append(raw)
            continue
        try:
            version = codec.decode(raw, "state_delta")["version"]
        except (SerdeError, ValueError, EOFError, KeyError):
            out.to_write.append(raw)
            continue
        out.changed.add(doc)
        if version in entry.refused:  # a refused delta has come back
            entry.refused.discard(version)
            entry.waiting.append(raw)
        elif len(entry.waiting) < max_waiting:
            entry.waiting.append(raw)
            out.held += 1
        else:
            entry.refused.add(version)
            out.overflow.append(raw)
    for doc in sorted(out.changed):
        entry = parked[doc]
        if not entry.refused:
            out.to_write += entry.waiting
            out.released.append(doc)
            del parked[doc]
    return out


def park(parked: dict[str, Parked], refused: dict[str, set[int]], held: dict[str, list[bytes]]) -> set[str]:
    """After a flush: documents with a refused write (their refused versions) and the deltas the writer
    held back behind it. Returns the documents whose entry changed."""
    for doc, versions in refused.items():
        parked.setdefault(doc, Parked()).refused |= versions
    for doc, raws in held.items():
        parked.setdefault(doc, Parked()).waiting += raws
    return set(refused) | set(held)
