"""The shadow comparator: for one input message, are the legacy and the new path's deliveries to
destinations without `dedupes_on` identical (same count and content)?

As in the Segment design (docs/profile-dedupe.md), each delivery is keyed by a hash (SHA-256 of
message, destination and ids) with a count: the new path adds one, the legacy path takes one away,
and any key left non-zero is a mismatch.
Segment's comparator ran hosts out of memory on one input that fanned out to 150,000 outputs;
here the in-memory map holds at most `cap` keys. Past the cap, counts spill into a RocksDB database
(rocksdict) in `spill_dir`, which is emptied after each message. Memory is bounded by the cap, not
by the fan-out.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jobs.profile_dedupe.deliveries import Delivery

DEFAULT_CAP = 10_000
SPILL_WRITE_BUFFER = 4 * 2**20


def delivery_hash(message_id: str, delivery: Delivery) -> bytes:
    text = "\x00".join([message_id, delivery.destination_id, *(f"{t}\x01{v}" for t, v in delivery.ids)])
    return hashlib.sha256(text.encode()).digest()


@dataclass(frozen=True)
class Mismatch:
    delivery_hash: str
    surplus: int  # new path's count minus the legacy path's
    destination_id: str


class ShadowComparator:
    def __init__(self, spill_dir: str | Path | None = None, cap: int = DEFAULT_CAP):
        self.cap = cap
        self.spill_dir = Path(spill_dir) if spill_dir else None
        self.counts: dict[bytes, list] = {}  # hash -> [count, destination_id]
        self.spilled = None  # rocksdict.Rdict while a message overflowed the cap
        self.spill_path: Path | None = None
        self.peak_keys = 0
        self.spills = 0

    def add(self, message_id: str, delivery: Delivery, count: int) -> None:
        """count: +1 for a new-path delivery, -1 for a legacy one."""
        key = delivery_hash(message_id, delivery)
        entry = self.counts.get(key)
        if entry is None:
            if len(self.counts) >= self.cap:
                self._spill()
            self.counts[key] = [count, delivery.destination_id]
            self.peak_keys = max(self.peak_keys, len(self.counts))
        else:
            entry[0] += count

    def _spill(self) -> None:
        from rocksdict import Options, Rdict

        if self.spilled is None:
            base = self.spill_dir or Path(tempfile.gettempdir())
            base.mkdir(parents=True, exist_ok=True)
            self.spill_path = Path(tempfile.mkdtemp(prefix="comparator-", dir=base))
            options = Options()
            options.create_if_missing(True)
            options.set_write_buffer_size(SPILL_WRITE_BUFFER)  # RocksDB's 64 MiB default would dwarf the cap
            self.spilled = Rdict(str(self.spill_path), options)
        self.spills += 1
        db = self.spilled
        for key, (count, destination) in self.counts.items():
            old = db.get(key)
            db[key] = (old[0] + count, destination) if old else (count, destination)
        self.counts.clear()

    def finish(self) -> Iterator[Mismatch]:
        """The mismatches of the message, then start afresh for the next one."""
        try:
            if self.spilled is not None:
                self._spill()
                for key, (count, destination) in self.spilled.items():
                    if count:
                        yield Mismatch(key.hex(), count, destination)
            else:
                for key, (count, destination) in sorted(self.counts.items()):
                    if count:
                        yield Mismatch(key.hex(), count, destination)
        finally:
            self.reset()

    def reset(self) -> None:
        self.counts.clear()
        if self.spilled is not None:
            self.spilled.close()
            self.spilled = None
            shutil.rmtree(self.spill_path, ignore_errors=True)
            self.spill_path = None
