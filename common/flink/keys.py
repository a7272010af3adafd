"""Keys that Flink spreads evenly over the subtasks of a keyed operator, at any parallelism.

Flink sends a key to key group `murmur(key.hashCode()) % max_parallelism`, and key group g to subtask
`g * parallelism // max_parallelism`. A handful of small keys (0..7, say) therefore land wherever
their hash puts them: measured with PyFlink's `key_by` over the keys 0..7, 5 and 3 of them went to the
two subtasks of parallelism 2, and one subtask of four got none. `spread_keys(n)` instead picks, for
each of n slots, an int key whose key group is the middle of the slot's equal slice of the key
groups: at any parallelism up to n every subtask holds n // parallelism or one more of them, and a
savepoint rescales like any keyed state (key groups move, keys do not).

The key groups are computed by Flink itself, through the gateway, for the key object PyFlink's
`key_by` builds (a one-field Row of the int), so they cannot drift from what the runtime does.
"""

from __future__ import annotations

import itertools


def spread_keys(count: int, max_parallelism: int) -> list[int]:
    """`count` int keys, the i-th in key group (2i + 1) * max_parallelism // (2 * count)."""
    return _spread(count, max_parallelism, itertools.count())


def spread_names(count: int, max_parallelism: int, prefix: str = "b") -> list[str]:
    """`spread_keys` for string keys: `count` names ("b17", ...) placed the same way, as keyed by a
    string (a Row of it, as PyFlink's `key_by(..., Types.STRING())` and common/flink/batches.py key
    their elements)."""
    return _spread(count, max_parallelism, (f"{prefix}{n}" for n in itertools.count()))


def _spread(count: int, max_parallelism: int, candidates):
    if not 0 < count <= max_parallelism:
        raise ValueError(f"{count} keys cannot spread over {max_parallelism} key groups")
    wanted = {(2 * i + 1) * max_parallelism // (2 * count): i for i in range(count)}
    keys: list = [None] * count
    for candidate in candidates:
        slot = wanted.get(key_group(candidate, max_parallelism))
        if slot is not None and keys[slot] is None:
            keys[slot] = candidate
            if None not in keys:
                return keys
    raise AssertionError("unreachable: candidates are endless")


def key_group(key: int | str, max_parallelism: int) -> int:
    """The key group Flink gives a key of PyFlink's `key_by(..., Types.INT())` (or STRING())."""
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    row = jvm.org.apache.flink.types.Row(2)
    row.setField(0, jvm.java.lang.Integer(key) if isinstance(key, int) else key)
    java_key = jvm.org.apache.flink.streaming.api.functions.python.KeyByKeySelector().getKey(row)
    return jvm.org.apache.flink.runtime.state.KeyGroupRangeAssignment.assignToKeyGroup(java_key, max_parallelism)
