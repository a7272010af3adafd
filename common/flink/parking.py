"""Records that wait, per key, in arrival order: the waiting room of a keyed operator.

Once one record of a key waits, every later record of the key waits behind it, so one key's records
are never reordered. With `names` (what a record's order matters for inside the key, e.g. the
profiles a message reads), a record waits only behind earlier waiting records that share a name
with it, and leaves as soon as it may and nothing before it that shares a name still waits: records
that share no name overtake each other, records that share one never do.

Waiting records live in a keyed ListState (checkpointed: a restart keeps them) with the time they
were parked; while any wait, a processing-time timer brings the key back every `retry_ms`. Nothing
here knows Flink: the state is anything with get/add/update (holding the current key's list), the
timer a callback.

How many records each key holds is cached, so a record of a key with nothing waiting costs no state
read; the cache is bounded (`cache_keys`): keys below the user level are unbounded in number, and a
key not in the cache costs one state read, never a wrong answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator


class ParkingLot:
    """The waiting records of each key, oldest first, as (record, parked at ms) in `state`."""

    def __init__(
        self,
        state,
        retry_ms: int,
        cache_keys: int = 100_000,
        names: Callable[[object], frozenset] | None = None,
    ):
        self.state = state
        self.retry_ms = retry_ms
        self.cache_keys = cache_keys
        self.names = names
        self.sizes: dict[object, int] = {}  # key -> waiting records (a count, to spare state reads)
        self.held: dict[object, frozenset] = {}  # key -> the names its waiting records hold back (with `names`)

    def size(self, key) -> int:
        size = self.sizes.get(key)
        if size is None:  # not seen since open (the state may hold restored records), or evicted
            size = sum(1 for _ in (self.state.get() or []))
            self._remember(key, size)
        return size

    def waits_behind(self, key, names: frozenset) -> bool:
        """Whether a record of `key` with these `names` must wait behind records already waiting: any
        of them without `names`, those sharing a name with it with `names`."""
        waiting = self.size(key)
        if self.names is None or not waiting:
            return bool(waiting)
        held = self.held.get(key)
        if held is None:  # not seen since open (restored records), or evicted with the sizes
            held = self.held[key] = frozenset().union(*(self.names(record) for record, _at in self.state.get() or []))
        return bool(held & names)

    def _remember(self, key, size: int, held: frozenset | None = None) -> None:
        if key not in self.sizes and len(self.sizes) >= self.cache_keys:
            self.sizes = {k: n for k, n in self.sizes.items() if n}  # keys with waiting records stay
            self.held = {k: h for k, h in self.held.items() if self.sizes.get(k)}
            if len(self.sizes) >= self.cache_keys:
                self.sizes.clear()
                self.held.clear()
        self.sizes[key] = size
        if held is not None:
            self.held[key] = held
        else:
            self.held.pop(key, None)

    def park(self, key, record, now_ms: int, schedule: Callable[[int], None]) -> None:
        """Add a record behind the others; the first one to wait asks for a timer."""
        waiting = self.size(key)
        held = None
        if self.names is not None:
            known = self.held.get(key) if waiting else frozenset()
            held = None if known is None else known | self.names(record)  # None: recomputed when asked
        self.state.add((record, now_ms))
        self._remember(key, waiting + 1, held)
        if waiting == 0:
            schedule(now_ms + self.retry_ms)

    def release(
        self,
        key,
        now_ms: int,
        may_go: Callable[[object, int], bool],
        schedule: Callable[[int], None],
        touched: frozenset | None = None,
    ) -> Iterator:
        """The records that may go now (`may_go(record, waited_ms)`), oldest first: without `names` up to
        the first that may not, with `names` every one that may and shares no name with an earlier one
        that still waits. The rest keep waiting, in order, and ask for another timer.

        `touched` (with `names`): only what changed for these names can let a record go (a profile
        arrived), so `may_go` is asked only of records that share one with it, or with a record that
        went before them in this call; None (a timer: waits may have timed out) asks every record."""
        parked = list(self.state.get() or [])
        kept, held = [], frozenset()
        for at, (record, parked_at) in enumerate(parked):
            if self.names is None:
                if not may_go(record, now_ms - parked_at):
                    kept = parked[at:]
                    break
                yield record
                continue
            mine = self.names(record)
            if held & mine or (touched is not None and not touched & mine) or not may_go(record, now_ms - parked_at):
                kept.append((record, parked_at))
                held |= mine
                continue
            if touched is not None:
                touched = touched | mine
            yield record
        if len(kept) != len(parked):
            self.state.update(kept)
        self._remember(key, len(kept), held if self.names is not None else None)
        if kept:
            schedule(now_ms + self.retry_ms)
