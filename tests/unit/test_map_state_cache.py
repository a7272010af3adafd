"""CachedMapState: reads come from the cache once seen, writes reach the state once per element, and
the state always ends up holding what a plain MapState would."""

import random

import pytest

from common.flink.map_state_cache import CachedMapState


class KeyedMapState:
    """Flink's keyed MapState semantics in memory: one map per current key, set from outside, with
    a count of calls (each would cross into the JVM)."""

    def __init__(self):
        self.maps: dict = {}
        self.key = None
        self.calls = 0

    def _map(self):
        return self.maps.setdefault(self.key, {})

    def get(self, k):
        self.calls += 1
        return self._map().get(k)

    def put(self, k, v):
        self.calls += 1
        self._map()[k] = v

    def put_all(self, d):
        self.calls += 1
        self._map().update(d)

    def remove(self, k):
        self.calls += 1
        self._map().pop(k, None)


def _one_tenant(capacity: int, **values) -> tuple[KeyedMapState, CachedMapState]:
    """A state holding `values` under tenant t1, and a cache in front of it, inside an element of t1."""
    state = KeyedMapState()
    state.key = "t1"
    state.maps["t1"] = dict(values)
    cached = CachedMapState(state, capacity=capacity)
    cached.begin("t1")
    return state, cached


def test_a_value_read_again_comes_from_the_cache():
    state, cached = _one_tenant(10, p1=(1,))
    assert cached.get("p1") == (1,)
    assert cached.get("p1") == (1,)
    assert cached.get("missing") is None
    assert cached.get("missing") is None
    assert state.calls == 2
    assert (cached.hits, cached.misses) == (2, 2)


def test_writes_reach_the_state_in_one_call_per_element():
    state, cached = _one_tenant(10)
    for i in range(5):
        cached.put(f"p{i}", i)
    assert state.maps.get("t1", {}) == {}  # buffered until the element ends
    assert cached.get("p3") == 3
    cached.flush()
    assert state.maps["t1"] == {f"p{i}": i for i in range(5)}
    assert state.calls == 1


def test_the_same_map_key_under_two_partition_keys_is_two_entries():
    state = KeyedMapState()
    cached = CachedMapState(state, capacity=10)
    for tenant, value in (("t1", "a"), ("t2", "b")):
        state.key = tenant
        cached.begin(tenant)
        cached.put("p", value)
        cached.flush()
    for tenant, value in (("t1", "a"), ("t2", "b")):
        state.key = tenant
        cached.begin(tenant)
        assert cached.get("p") == value


def test_a_write_evicted_from_the_cache_before_the_flush_is_still_read_and_written():
    state, cached = _one_tenant(2)
    cached.put("p0", 0)
    cached.put("p1", 1)
    cached.put("p2", 2)  # evicts p0 from the cache; the write is still buffered
    assert len(cached.cache) == 2
    assert cached.get("p0") == 0
    cached.flush()
    assert state.maps["t1"] == {"p0": 0, "p1": 1, "p2": 2}


def test_a_removed_key_reads_as_absent_and_is_gone_from_the_state():
    state, cached = _one_tenant(10)
    cached.put("p", 1)
    cached.remove("p")
    cached.flush()
    assert cached.get("p") is None
    assert "p" not in state.maps["t1"]


def test_an_element_cannot_begin_over_unflushed_writes():
    cached = CachedMapState(KeyedMapState(), capacity=10)
    cached.begin("t1")
    cached.put("p", 1)
    with pytest.raises(RuntimeError, match="flush"):
        cached.begin("t2")


def test_the_cache_never_holds_more_than_its_capacity():
    state, cached = _one_tenant(100)
    for i in range(1000):
        cached.get(f"p{i}")
    assert len(cached.cache) == 100


@pytest.mark.parametrize("seed", range(5))
def test_random_operations_leave_the_state_as_a_plain_map_state_would(seed):
    rng = random.Random(seed)
    plain, behind = KeyedMapState(), KeyedMapState()
    cached = CachedMapState(behind, capacity=7)
    for _element in range(300):
        tenant = rng.choice(["t1", "t2", "t3"])
        plain.key = behind.key = tenant
        cached.begin(tenant)
        for _op in range(rng.randint(1, 6)):
            key, roll = f"p{rng.randrange(20)}", rng.random()
            if roll < 0.5:
                assert cached.get(key) == plain.get(key)
            elif roll < 0.9:
                value = rng.randrange(1000)
                cached.put(key, value)
                plain.put(key, value)
            else:
                cached.remove(key)
                plain.remove(key)
        cached.flush()
    assert {t: m for t, m in behind.maps.items() if m} == {t: m for t, m in plain.maps.items() if m}


def test_a_cache_of_no_entries_is_refused():
    with pytest.raises(ValueError):
        CachedMapState(KeyedMapState(), capacity=0)
