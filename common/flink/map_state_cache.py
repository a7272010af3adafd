"""A keyed MapState behind a bounded read cache and a per-element write buffer.

Each `get`/`put` of a PyFlink MapState is a call into the JVM and a RocksDB access (with pickling):
in profile-dedupe they were a fifth of the Python thread's time. This wrapper

- answers repeated reads from a bounded LRU cache of values (`capacity` entries per operator
  instance, across elements): only this operator instance writes its keyed state, and a restore or a
  rescale runs `open()` again with an empty cache, so the cache never disagrees with the state;
- buffers writes and hands them to the state in one `put_all` per element (`flush`), while the current
  key is still the element's: a checkpoint barrier falls between elements, so every snapshot holds
  every write.

Values are shared between the cache and the caller: store immutable values (tuples, frozen
dataclasses), or values the caller never changes after `put`.

`clock` (a one-item list) accumulates the seconds spent reading the state while `timing` is set, for
a `state` latency step (writes are one call per element, not per record).
"""

from __future__ import annotations

import time
from collections import OrderedDict

_ABSENT = None  # MapState.get's answer for a missing key; cached like any value


class CachedMapState:
    def __init__(self, state, capacity: int, clock: list[float] | None = None):
        if capacity < 1:
            raise ValueError("a cache holds at least one entry")
        self.state, self.capacity = state, capacity
        self.clock = clock if clock is not None else [0.0]
        self.timing = False
        self.cache: OrderedDict = OrderedDict()  # (current key, map key) -> value, least recent first
        self.dirty: dict = {}  # map key -> value, for the current key, since the last flush
        self.key = None
        self.hits = self.misses = 0

    def begin(self, key) -> None:
        """Start an element whose current (partition) key is `key`; the previous one must be flushed."""
        if self.dirty:
            raise RuntimeError("CachedMapState.begin with unflushed writes: call flush() at the end of each element")
        self.key = key

    def get(self, map_key):
        if map_key in self.dirty:  # written in this element, maybe evicted from the cache since
            return self.dirty[map_key]
        slot = (self.key, map_key)
        cache = self.cache
        if slot in cache:
            cache.move_to_end(slot)
            self.hits += 1
            return cache[slot]
        self.misses += 1
        if self.timing:
            started = time.perf_counter()
            value = self.state.get(map_key)
            self.clock[0] += time.perf_counter() - started
        else:
            value = self.state.get(map_key)
        self._remember(slot, value)
        return value

    def put(self, map_key, value) -> None:
        self._remember((self.key, map_key), value)
        self.dirty[map_key] = value

    def remove(self, map_key) -> None:
        self.dirty.pop(map_key, None)
        self._remember((self.key, map_key), _ABSENT)
        self.state.remove(map_key)

    def flush(self) -> None:
        """Write the element's buffered puts: one call into the JVM for all of them."""
        if self.dirty:
            self.state.put_all(self.dirty)
            self.dirty = {}

    def _remember(self, slot, value) -> None:
        cache = self.cache
        cache[slot] = value
        cache.move_to_end(slot)
        if len(cache) > self.capacity:
            cache.popitem(last=False)
