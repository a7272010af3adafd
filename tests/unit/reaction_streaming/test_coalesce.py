"""Coalescing against the one-by-one reference (harness/models/mongo.py).

The property: whatever prefix of an entity's deltas a document already has, applying the coalesced
writes of a batch (with duplicates and stale retries mixed in) gives the document that applying every
delta once, in order, gives. The writes are checked as the MongoDB update documents we send.
"""

import itertools
import random

import pytest

from harness.models.mongo import UpdateConflict, apply_delta, apply_update
from jobs.reaction_streaming.coalesce import coalesce
from jobs.reaction_streaming.requests import tombstone, update_document

OPS = ("set", "set_list", "unset", "add_to_set", "pull", "delete")


def delta(version, op=None, path="tags", value=None, **ops):
    d = {
        "collection": "users",
        "doc_id": "t:u1",
        "version": version,
        "delete": op == "delete",
        "set": {"version": version},
        "unset": [],
        "add_to_set": {},
        "pull": {},
    }
    if op == "set":
        d["set"][path] = value if value is not None else f"v{version}"
    elif op == "set_list":
        d["set"][path] = value if value is not None else ["a", f"v{version}"]
    elif op == "unset":
        d["unset"].append(path)
    elif op in ("add_to_set", "pull"):
        d[op][path] = value if value is not None else ["a", f"v{version}"]
    for key, extra in ops.items():
        d[key].update(extra) if isinstance(extra, dict) else d[key].extend(extra)
    return d


def one_by_one(doc, deltas):
    for d in deltas:
        doc = apply_delta(doc, d)
    return doc


def through_writes(doc, deltas):
    writes = coalesce(deltas)
    for w in writes:
        if w.delete:
            doc = apply_update(doc, w.version, None, tombstone(w))
        else:
            doc = apply_update(doc, w.version, update_document(w))
    return doc, writes


START = {"version": 0, "tags": ["a", "b"], "name": "x"}


SCALAR_THEN_ARRAY_OP = {("set", "add_to_set"), ("set", "pull")}


@pytest.mark.parametrize(
    "first,second", [pair for pair in itertools.product(OPS, OPS) if pair not in SCALAR_THEN_ARRAY_OP]
)
def test_every_operator_pair_on_one_path_equals_applying_them_one_by_one(first, second):
    deltas = [delta(1, first), delta(2, second)]
    for start in (None, START, apply_delta(START, deltas[0])):
        got, writes = through_writes(start, deltas)
        assert got == one_by_one(start, deltas), (first, second, start)
    conflicting = {("add_to_set", "pull"), ("pull", "add_to_set")}
    after_delete = first == "delete" and second != "delete"
    assert len(writes) == (2 if (first, second) in conflicting or after_delete else 1)


@pytest.mark.parametrize("op", ["add_to_set", "pull"])
def test_an_array_operator_after_a_scalar_set_is_left_for_mongodb_to_refuse(op):
    writes = coalesce([delta(1, "set"), delta(2, op)])
    assert len(writes) == 2 and writes[1].add_to_set or writes[1].pull


def test_a_path_and_its_prefix_are_never_in_one_update():
    deltas = [delta(1, "set", "attributes.plan", "pro"), delta(2, "unset", "attributes")]
    got, writes = through_writes(START, deltas)
    assert len(writes) == 2 and got == one_by_one(START, deltas)


def test_duplicates_and_stale_retries_change_nothing():
    deltas = [delta(v, "add_to_set", value=[f"x{v}"]) for v in range(1, 6)]
    noisy = deltas[2:] + deltas[:3] + [deltas[4]]
    got, writes = through_writes(apply_delta(START, deltas[0]), noisy)
    assert got == one_by_one(START, deltas)
    assert len(writes) == 1 and writes[0].version == 5 and writes[0].versions == [1, 2, 3, 4, 5]


def test_a_stale_retry_beside_newer_deltas_is_not_applied_again():
    deltas = [
        delta(1, "add_to_set", value=["x"]),
        delta(2, "pull", value=["x"]),
        delta(3, "add_to_set", value=["x"]),
        delta(4, "set", "name", "n"),
    ]
    at_3 = one_by_one(START, deltas[:3])
    got, writes = through_writes(at_3, [deltas[1], deltas[3]])  # 2 is a late retry; 3 came in an earlier batch
    assert got == one_by_one(START, deltas) and "x" in got["tags"]
    assert [w.versions for w in writes] == [[2], [4]]


def test_a_write_older_than_the_document_is_ignored():
    newer = one_by_one(START, [delta(1, "set"), delta(2, "set")])
    got, _ = through_writes(newer, [delta(1, "set", value="stale")])
    assert got == newer


def test_update_document_shape():
    [w] = coalesce([delta(3, "set", "name", "n", unset=["old"], add_to_set={"emails": ["e"]}, pull={"devices": ["d"]})])
    assert update_document(w) == {
        "$set": {"version": 3, "name": "n"},
        "$unset": {"old": ""},
        "$addToSet": {"emails": {"$each": ["e"]}},
        "$pullAll": {"devices": ["d"]},
    }


PATHS = ("tags", "emails", "name", "attributes.plan", "attributes.tier", "attributes")


def _random_delta(rng, version):
    d = delta(version)
    for _ in range(rng.randint(1, 3)):
        op, path = rng.choice(OPS[:-1]), rng.choice(PATHS)
        if any(
            path == p or path.startswith(p + ".") or p.startswith(path + ".")
            for p in [*d["set"], *d["unset"], *d["add_to_set"], *d["pull"]]
        ):
            continue  # one delta never touches a path twice (deltas.py emits one operator per path)
        if op in ("add_to_set", "pull") and not path.startswith(("tags", "emails")):
            continue  # set operators only on the array fields, as deltas.py emits them
        if op == "set_list" and not path.startswith(("tags", "emails")):
            op = "set"
        if op == "set":
            value = {"plan": "p"} if path == "attributes" else f"s{rng.randint(0, 2)}"
            if path in ("tags", "emails"):
                op, value = "set_list", None
        else:
            value = rng.choice([None, ["a"], ["b", "c"]])
        one = delta(version, op, path, value=value)
        for key in ("set", "add_to_set", "pull"):
            d[key].update(one[key])
        d["unset"] += one["unset"]
    if rng.random() < 0.05:
        d["delete"] = True
    return d


@pytest.mark.parametrize("seed", range(1000))
def test_random_batches_with_any_applied_prefix_equal_one_by_one(seed):
    rng = random.Random(seed)
    deltas = [_random_delta(rng, v) for v in range(1, rng.randint(2, 12))]
    applied = rng.randint(0, len(deltas))
    start = one_by_one({"version": 0, "tags": ["a"]}, deltas[:applied])
    batch = deltas[max(0, applied - rng.randint(0, 3)) :]
    batch = batch + rng.sample(batch, k=min(len(batch), rng.randint(0, 3)))  # duplicates
    batch += rng.sample(deltas[:applied], k=min(applied, rng.randint(0, 2)))  # stale retries of older deltas
    rng.shuffle(batch)
    try:
        got, _ = through_writes(start, batch)
    except UpdateConflict as exc:  # pragma: no cover - the assertion message is the point
        pytest.fail(f"coalescing produced an update MongoDB refuses: {exc}")
    assert got == one_by_one({"version": 0, "tags": ["a"]}, deltas)
