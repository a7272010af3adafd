"""Records that wait, per key, in arrival order: the waiting room of a keyed operator.

Once one record of a key waits, every later record of the key waits behind it, so one key's records
are never reordered. Waiting records live in a keyed ListState (checkpointed: a restart keeps them)
with the time they were parked; while any wait, a processing-time timer brings the key back every
`retry_ms`. Nothing here knows Flink: the state is anything with get/add/update (holding the current
key's list), the timer a callback.

How many records each key holds is cached, so a record of a key with nothing waiting costs no state
read; the cache is bounded (`cache_keys`): keys below the user level are unbounded in number, and a
key not in the cache costs one state read, never a wrong answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator


class ParkingLot:
    """The waiting records of each key, oldest first, as (record, parked at ms) in `state`."""

    def __init__(self, state, retry_ms: int, cache_keys: int = 100_000):
        self.state = state
        self.retry_ms = retry_ms
        self.cache_keys = cache_keys
        self.sizes: dict[object, int] = {}  # key -> waiting records (a count, to spare state reads)

    def size(self, key) -> int:
        size = self.sizes.get(key)
        if size is None:  # not seen since open (the state may hold restored records), or evicted
            size = sum(1 for _ in (self.state.get() or []))
            self._remember(key, size)
        return size

    def _remember(self, key, size: int) -> None:
        if key not in self.sizes and len(self.sizes) >= self.cache_keys:
            self.sizes = {k: n for k, n in self.sizes.items() if n}  # keys with waiting records stay
            if len(self.sizes) >= self.cache_keys:
                self.sizes.clear()
        self.sizes[key] = size

    def park(self, key, record, now_ms: int, schedule: Callable[[int], None]) -> None:
        """Add a record behind the others; the first one to wait asks for a timer."""
        waiting = self.size(key)
        self.state.add((record, now_ms))
        self._remember(key, waiting + 1)
        if waiting == 0:
            schedule(now_ms + self.retry_ms)

    def release(
        self, key, now_ms: int, may_go: Callable[[object, int], bool], schedule: Callable[[int], None]
    ) -> Iterator:
        """The records that may go now (`may_go(record, waited_ms)`), oldest first, up to the first that
        may not; the rest keep waiting, in order, and ask for another timer."""
        parked = list(self.state.get() or [])
        done = 0
        for record, parked_at in parked:
            if not may_go(record, now_ms - parked_at):
                break
            done += 1
            yield record
        if done:
            self.state.update(parked[done:])
        self._remember(key, len(parked) - done)
        if len(parked) > done:
            schedule(now_ms + self.retry_ms)
