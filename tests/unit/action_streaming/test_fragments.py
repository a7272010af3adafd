"""Profile fragments fold in any order (jobs/action_streaming/fragments.py): the property the
scale-out's determinism rests on, and what the document shows of them."""

import copy
import random

from common.contracts.actions import Action, AttributeOp, Event, Identifiers
from jobs.action_streaming.fragments import (
    DeviceEntry,
    Fragment,
    attributes,
    fold_message,
    listed_identifiers,
    merge,
    user_document,
)


def _message(mid, t, ops=(), events=()):
    return Action(
        "acme",
        "sdk",
        mid,
        "batch",
        t,
        Identifiers(anonymous_ids=["a"]),
        None,
        [Event(n, t, {}) for n in events],
        list(ops),
    )


def _random_fragment(rng: random.Random, n: int) -> Fragment:
    fragment = Fragment()
    for i in range(n):
        t = rng.randint(0, 50)
        ops = []
        for _ in range(rng.randint(0, 2)):
            op = rng.choice(["set", "unset", "add_to_set", "pull"])
            value = rng.choice(["x", "y", "z"]) if op != "unset" else None
            ops.append(AttributeOp(op, rng.choice(["plan", "tags"]), value))
        home = rng.choice(["anonymous_id:a", "email:e", "phone:p"])
        fold_message(fragment, _message(f"m{rng.randint(0, 10**6)}-{i}", t, ops, ["open"] * rng.randint(0, 2)), home)
    for _ in range(rng.randint(0, 2)):
        device = rng.choice(["d1", "d2"])
        entry = DeviceEntry(rng.randint(1, 4), rng.random() < 0.6, {"platform": "ios"}, 7)
        if entry.newer_than(fragment.devices.get(device)):
            fragment.devices[device] = entry
    return fragment


def _folded(parts):
    out = Fragment()
    for part in parts:
        merge(out, copy.deepcopy(part))
    return out


def test_merge_is_commutative_and_associative():
    rng = random.Random(7)
    for _ in range(300):
        parts = [_random_fragment(rng, rng.randint(0, 4)) for _ in range(4)]
        expected = user_document("acme", "u", _folded(parts), 50), attributes(_folded(parts))
        shuffled = parts[:]
        rng.shuffle(shuffled)
        assert (user_document("acme", "u", _folded(shuffled), 50), attributes(_folded(shuffled))) == expected
        left = _folded([_folded(shuffled[:2]), _folded(shuffled[2:])])
        assert user_document("acme", "u", left, 50) == expected[0]


def test_the_later_set_wins_and_an_older_one_arriving_later_does_not():
    newer, older = Fragment(), Fragment()
    fold_message(newer, _message("m2", 2000, [AttributeOp("set", "plan", "pro")]), "anonymous_id:a")
    fold_message(older, _message("m1", 1000, [AttributeOp("set", "plan", "free")]), "anonymous_id:a")
    merge(newer, older)
    assert attributes(newer) == {"plan": "pro"}


def test_an_unset_leaves_its_time_behind():
    f = Fragment()
    fold_message(f, _message("m2", 2000, [AttributeOp("unset", "plan")]), "anonymous_id:a")
    fold_message(f, _message("m1", 1000, [AttributeOp("set", "plan", "free")]), "anonymous_id:a")
    assert attributes(f) == {}


def test_add_to_set_and_pull_apply_per_element_after_the_last_set():
    f = Fragment()
    fold_message(f, _message("m1", 1000, [AttributeOp("set", "tags", ["a", "b"])]), "anonymous_id:a")
    fold_message(f, _message("m3", 3000, [AttributeOp("pull", "tags", "a")]), "anonymous_id:a")
    fold_message(f, _message("m2", 2000, [AttributeOp("add_to_set", "tags", ["c", "a"])]), "anonymous_id:a")
    fold_message(f, _message("m0", 500, [AttributeOp("add_to_set", "tags", "old")]), "anonymous_id:a")
    assert attributes(f) == {"tags": ["b", "c"]}  # the pull of "a" is later than its add; "old" predates the set


def test_a_deleted_fragment_absorbs_whatever_meets_it():
    f = Fragment()
    fold_message(f, _message("m1", 1000, events=["open"]), "anonymous_id:a")
    merge(f, Fragment(deleted=True))
    assert f.deleted and user_document("acme", "u", f, 50) is None
    other = Fragment()
    fold_message(other, _message("m2", 2000, events=["open"]), "anonymous_id:a")
    merge(f, other)
    assert f.deleted and f.messages == 0


def test_the_cap_lists_the_first_seen_identifiers_and_says_how_many_it_left_out():
    f = Fragment(identifiers={"customer_id:c": 5, "email:e": 1, "anonymous_id:b": 3, "anonymous_id:a": 3})
    listed, left_out = listed_identifiers(f, 2)
    assert listed == {"customer_id:c": 5, "email:e": 1, "anonymous_id:a": 3} and left_out == 1


def test_the_document_needs_a_message_and_lists_kinds_apart():
    f = Fragment(
        identifiers={"customer_id:c": 5, "email:e": 1},
        devices={"d1": DeviceEntry(2, True), "d2": DeviceEntry(3, False)},
    )
    assert user_document("acme", "u", f, 50) is None
    fold_message(f, _message("m1", 4000, events=["open", "open"]), "customer_id:c")
    doc = user_document("acme", "u", f, 50)
    assert doc["customer_id"] == "c" and doc["emails"] == ["e"] and doc["devices"] == ["d1"]
    assert doc["counters"] == {"open": 2} and doc["first_seen"] == doc["last_seen"] == 4000
