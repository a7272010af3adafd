"""A small stand-in for Flink's runtime around one Python operator, for unit tests of operators.

Keyed state in dicts (Value, List and Map state, one per current key, as Flink scopes it), broadcast
state, a metric group that remembers counts and gauges, and a manual processing-time clock whose
timers fire when a test advances it. `OperatorDriver` opens a function and feeds it elements, broadcast
elements and time, collecting what it yields. It is not Flink: what Flink itself guarantees (exactly
once, checkpoints, restore) is tested against the real runtime in tests/integration; this is for an
operator's own policy (when it flushes, parks, releases, counts).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable


class ValueState:
    def __init__(self):
        self._value = None

    def value(self):
        return self._value

    def update(self, value) -> None:
        self._value = value

    def clear(self) -> None:
        self._value = None


class ListState:
    def __init__(self):
        self._items: list = []

    def get(self):
        return list(self._items)

    def add(self, value) -> None:
        self._items.append(value)

    def add_all(self, values: Iterable) -> None:
        self._items.extend(values)

    def update(self, values: Iterable) -> None:
        self._items = list(values)

    def clear(self) -> None:
        self._items = []


class MapState:
    def __init__(self):
        self._items: dict = {}

    def get(self, key):
        return self._items.get(key)

    def put(self, key, value) -> None:
        self._items[key] = value

    def put_all(self, values: dict) -> None:
        self._items.update(values)

    def remove(self, key) -> None:
        self._items.pop(key, None)

    def contains(self, key) -> bool:
        return key in self._items

    def items(self):
        return list(self._items.items())

    def keys(self):
        return list(self._items)

    def values(self):
        return list(self._items.values())

    def is_empty(self) -> bool:
        return not self._items

    def clear(self) -> None:
        self._items.clear()


class _Keyed:
    """What `get_state` returns: the state of whatever key is current when it is called."""

    def __init__(self, runtime: RuntimeContext, name: str, kind: type):
        self._runtime, self._name, self._kind = runtime, name, kind

    def _current(self):
        slot = (self._name, self._runtime.current_key)
        if slot not in self._runtime.keyed:
            self._runtime.keyed[slot] = self._kind()
        return self._runtime.keyed[slot]

    def __getattr__(self, attribute):
        return getattr(self._current(), attribute)


class Counter:
    def __init__(self):
        self.count = 0

    def inc(self, n: int = 1) -> None:
        self.count += n

    def dec(self, n: int = 1) -> None:
        self.count -= n

    def get_count(self) -> int:
        return self.count


class MetricGroup:
    def __init__(self, prefix: str = ""):
        self.prefix = prefix
        self.counters: dict[str, Counter] = {}
        self.gauges: dict[str, object] = {}
        self.groups: dict[str, MetricGroup] = {}

    def counter(self, name: str) -> Counter:
        return self.counters.setdefault(name, Counter())

    def gauge(self, name: str, value) -> None:
        self.gauges[name] = value

    def add_group(self, name: str, value: str | None = None) -> MetricGroup:
        key = name if value is None else f"{name}.{value}"
        return self.groups.setdefault(key, MetricGroup(f"{self.prefix}{key}."))


class RuntimeContext:
    def __init__(self, subtask: int = 0):
        self.subtask = subtask
        self.current_key = None
        self.keyed: dict[tuple[str, object], object] = {}
        self.metrics = MetricGroup()

    def get_state(self, descriptor):
        return _Keyed(self, descriptor.name, ValueState)

    def get_list_state(self, descriptor):
        return _Keyed(self, descriptor.name, ListState)

    def get_map_state(self, descriptor):
        return _Keyed(self, descriptor.name, MapState)

    def get_metrics_group(self) -> MetricGroup:
        return self.metrics

    def get_index_of_this_subtask(self) -> int:
        return self.subtask


class TimerService:
    def __init__(self, driver: OperatorDriver):
        self._driver = driver

    def current_processing_time(self) -> int:
        return self._driver.now_ms

    def register_processing_time_timer(self, at_ms: int) -> None:
        self._driver.register(at_ms)

    def current_watermark(self) -> int:
        return -(2**63)


class Context:
    def __init__(self, driver: OperatorDriver, timestamp: int | None = None):
        self._driver, self._timestamp = driver, timestamp

    def get_current_key(self):
        return self._driver.runtime.current_key

    def timer_service(self) -> TimerService:
        return TimerService(self._driver)

    def timestamp(self) -> int | None:
        return self._timestamp

    def get_broadcast_state(self, descriptor) -> MapState:
        return self._driver.broadcast_state.setdefault(descriptor.name, MapState())


class OperatorDriver:
    """Open `function` on a fake runtime, then call it like Flink would; every call returns the list of
    what the function yielded (its side outputs included, as (tag, value) pairs)."""

    def __init__(self, function, now_ms: int = 1_000_000, subtask: int = 0):
        self.function = function
        self.runtime = RuntimeContext(subtask)
        self.now_ms = now_ms
        self.timers: list[tuple[int, int, object]] = []  # (at, order, key): a heap
        self._registered: set[tuple[int, object]] = set()  # Flink keeps one timer per (time, key)
        self._order = 0
        self.broadcast_state: dict[str, MapState] = {}
        function.open(self.runtime)

    def register(self, at_ms: int) -> None:
        slot = (at_ms, self.runtime.current_key)
        if slot not in self._registered:
            self._registered.add(slot)
            self._order += 1
            heapq.heappush(self.timers, (at_ms, self._order, self.runtime.current_key))

    def element(self, value, key=None, timestamp: int | None = None) -> list:
        self.runtime.current_key = key
        return list(self.function.process_element(value, Context(self, timestamp)) or [])

    def broadcast(self, value) -> list:
        self.runtime.current_key = None
        return list(self.function.process_broadcast_element(value, Context(self)) or [])

    def advance(self, ms: int) -> list:
        """Move the clock on by `ms`, firing the timers due on the way, in time order."""
        until = self.now_ms + ms
        out = []
        while self.timers and self.timers[0][0] <= until:
            at, _, key = heapq.heappop(self.timers)
            self._registered.discard((at, key))
            self.now_ms = max(self.now_ms, at)
            self.runtime.current_key = key
            out += list(self.function.on_timer(at, Context(self)) or [])
        self.now_ms = until
        return out

    def state(self, name: str, key):
        """The fake state object `name` holds for `key` (None if the operator never touched it)."""
        return self.runtime.keyed.get((name, key))
