"""What api-unification writes to `hw.rejected` for one message: bounded by the message's own size.

Each refused part of a message used to become a record holding the whole original: one 228 KB SDK batch
of 6,000 tiny events, 5,900 of them over the batch limit, wrote 1.35 GB (5,904×). Now, per message:

- the original bytes are kept once: in the message's first rejection. Its other rejections leave
  `original` empty (`original_omitted`) and carry the part they refuse instead (its JSON, cut to
  PART_BYTES);
- parts refused for one reason beyond the first INDIVIDUAL_PER_REASON become one record that says how
  many (`parts`) and names the first paths;
- if the records still exceed the stage's budget (half the message's size + BASE_BYTES, the original
  aside), each reason's parts become one record, and if that is still too much, all parts one record.

Two stages refuse parts of a message (the rules, then the schema gate), so what one message makes on
`hw.rejected` is at most its own size (the original, once) + twice the budget: 2 × its size + 2 ×
BASE_BYTES. Every refused part is still counted by reason in the job's metrics, one by one.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass

from common.contracts.rejections import Rejection

PART_BYTES = 256
INDIVIDUAL_PER_REASON = 10
BASE_BYTES = 4096
MAX_DETAIL = 400
MAX_PATH = 200
RECORD_OVERHEAD = 160  # header, fixed fields and length prefixes of one Avro `rejected` record, generously


@dataclass(frozen=True)
class Shaped:
    """One record to write: the rejection (maybe standing for several parts) and what it carries."""

    rejection: Rejection
    part: bytes = b""
    parts: int = 1
    carries_original: bool = False


def shape(rejections: list[Rejection], raw: bytes, *, repeated: int = 0, original_sent: bool = False) -> list[Shaped]:
    """The records for one message's `rejections` at one stage. `repeated`: the bytes every record repeats
    (tenant, message id, source); `original_sent`: an earlier stage already wrote a rejection of this
    message with its original bytes."""
    if not rejections:
        return []
    doc = _parsed(raw) if any(r.path for r in rejections) else None
    budget = len(raw) // 2 + BASE_BYTES
    records = _per_reason(rejections, doc, INDIVIDUAL_PER_REASON)
    if _size(records, repeated) > budget:
        records = _per_reason(rejections, doc, 0)
    if _size(records, repeated) > budget and len(records) > 1:
        records = [_collapsed(rejections, doc, summary=True)]
    if not original_sent:
        first = records[0]
        records[0] = Shaped(first.rejection, first.part, first.parts, carries_original=True)
    return records


def _per_reason(rejections: list[Rejection], doc, individual: int) -> list[Shaped]:
    """Whole-message refusals as they are; parts: the first `individual` of each reason one by one, the
    rest of that reason as one record. In the order the rules refused them."""
    by_reason: dict = defaultdict(list)
    for r in rejections:
        if r.path:
            by_reason[r.reason].append(r)
    out, done = [], set()
    for r in rejections:
        if not r.path:
            out.append(Shaped(_capped(r)))
            continue
        if r.reason in done:
            continue
        done.add(r.reason)
        group = by_reason[r.reason]
        out += [Shaped(_capped(g), _part(doc, g.path)) for g in group[:individual]]
        if len(group) > individual:
            out.append(_collapsed(group[individual:], doc, summary=False))
    return out


def _collapsed(group: list[Rejection], doc, *, summary: bool) -> Shaped:
    """One record for many refused parts: the first one's reason and detail, how many, the first paths."""
    first = group[0]
    if len(group) == 1:
        return Shaped(_capped(first), _part(doc, first.path))
    if summary:  # several reasons: say how many of each
        counts: dict[str, int] = defaultdict(int)
        for r in group:
            counts[r.reason.value] += 1
        detail = f"{len(group)} parts refused: " + ", ".join(f"{k} {n}" for k, n in counts.items())
        detail += f"; the first: {first.detail}"
    else:
        detail = f"{first.detail} (and {len(group) - 1} more parts refused for {first.reason.value})"
    paths = ""
    for r in group:
        if len(paths) + len(r.path) + 2 > MAX_PATH - 24:
            break
        paths = f"{paths}, {r.path}" if paths else r.path
    path = f"{paths} … {len(group)} parts" if paths else f"{len(group)} parts"
    return Shaped(Rejection(first.reason, detail[:MAX_DETAIL], path), _part(doc, first.path), len(group))


def _capped(r: Rejection) -> Rejection:
    if len(r.detail) <= MAX_DETAIL and len(r.path) <= MAX_PATH:
        return r
    return Rejection(r.reason, r.detail[:MAX_DETAIL], r.path[:MAX_PATH])


def _size(records: list[Shaped], repeated: int) -> int:
    return sum(
        RECORD_OVERHEAD
        + repeated
        + len(s.rejection.detail.encode("utf-8", "surrogatepass"))
        + len(s.rejection.path.encode("utf-8", "surrogatepass"))
        + len(s.part)
        for s in records
    )


def _parsed(raw: bytes):
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # a format that is not JSON: parts go without their excerpt
        return None


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _part(doc, path: str) -> bytes:
    """The JSON of the value `path` names in the message (as deep as it resolves), cut to PART_BYTES;
    empty when not even its first step resolves."""
    value, found = doc, False
    for key, index in _STEP.findall(path):
        if key and isinstance(value, dict) and key in value:
            value = value[key]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            break
        found = True
    if not found:
        return b""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "replace")[:PART_BYTES]
