"""One schema, many subtasks: the arbiter decides each fact once, every subtask's view checks messages
against the decisions (tenant_schema.py), and the gate holds back only what waits for a decision
(operators.SchemaGate on the fake runtime, harness/flink_fake.py).

The properties: with proposals in message order, arbiter + views give exactly what one sequential
admit() gives; with decisions reaching subtasks in any order and at any time, no (tenant, name) is ever
accepted with two types and no tenant holds more names than its limit."""

from __future__ import annotations

import copy
import json
import random

import pytest

from common.contracts.actions import Action, AttributeOp, Event, Identifiers, routing_key
from common.contracts.rejections import Reason
from common.serde import frames
from common.serde.avro import AvroCodec
from harness.flink_fake import OperatorDriver
from jobs.api_unification.operators import ACTIONS_OUTPUT, PROPOSALS, REJECTED_OUTPUT, SchemaGate, UnifyMessages
from jobs.api_unification.settings import UnificationSettings
from jobs.api_unification.tenant_schema import Check, TenantSchema, facts, new_groups
from jobs.api_unification.values import type_of
from tests.unit.api_unification.conftest import TEST_KEYS

NAMES = ["viewed", "bought", "opened", "closed", "shared"]
PROPS = ["price", "sku", "qty"]
ATTRS = ["plan", "age", "tags", "city", "vip"]
VALUES = [1, 2.5, "x", True, None, ["a"]]


def _random_action(rng: random.Random, n: int) -> Action:
    events = [
        Event(
            rng.choice(NAMES),
            0,
            {p: rng.choice(VALUES) for p in rng.sample(PROPS, rng.randint(0, 3))},
            f"events[{i}]",
        )
        for i in range(rng.randint(0, 3))
    ]
    attributes = [
        AttributeOp(rng.choice(["set", "set", "unset", "add_to_set"]), name, rng.choice(VALUES))
        for name in rng.sample(ATTRS, rng.randint(0, 2))
    ]
    return Action(
        "acme", "api", f"m{n}", "track", 0, Identifiers(customer_id="c"), events=events, attributes=attributes
    )


def _outcome(action: Action, rejections) -> tuple:
    return (
        [(r.reason, r.path) for r in rejections],
        [(e.name, sorted(e.properties.items(), key=repr)) for e in action.events],
        [(a.op, a.name) for a in action.attributes],
        list(action.dropped),
    )


@pytest.mark.parametrize("tenant", ["acme", "strict"])
@pytest.mark.parametrize("seed", range(20))
def test_arbiter_and_a_view_decide_what_one_sequential_schema_decides(registry, tenant, seed):
    rng = random.Random(seed)
    policy = registry.get(tenant)
    sequential, arbiter, view = TenantSchema(), TenantSchema(), TenantSchema()
    proposed: set = set()
    for n in range(60):
        action = _random_action(rng, n)
        want = copy.deepcopy(action)
        expected = _outcome(want, sequential.admit(want, policy)[0])
        asked = facts(action)
        decisions, _ = arbiter.decide(new_groups(asked, proposed), policy)
        view.learn(json.loads(json.dumps(decisions)))  # as they travel
        check = view.check(asked, policy)
        assert check is not Check.WAIT, (n, asked)
        learned_before, original = copy.deepcopy(view), copy.deepcopy(action)
        rejections, changed = view.admit(action, policy)
        assert not changed and view == learned_before, "a view never learns on its own"
        assert _outcome(action, rejections) == expected
        # PASS: the Avro record made before the gate goes out as it is, so admit() must change nothing
        assert (check is Check.PASS) == (not rejections and action == original)


@pytest.mark.parametrize("seed", range(20))
def test_decisions_in_any_order_never_accept_two_types_or_too_many_names(registry, seed):
    """Three subtasks propose from their own messages; the arbiter's answers reach each subtask late and
    at random; each lets a message out once its view decides it. Over everything let out: one type per
    name, at most the limit of names."""
    rng = random.Random(seed)
    policy = registry.get("acme")  # drop policy; limits of 3 event names and 3 attributes (conftest)
    arbiter = TenantSchema()
    views = [TenantSchema() for _ in range(3)]
    memos: list[set] = [set(), set(), set()]
    inbox: list[list] = [[], [], []]  # decisions not yet delivered, per subtask
    waiting: list[list] = [[], [], []]
    accepted_types: dict[str, set] = {}
    names: set = set()

    def let_out(subtask: int) -> None:
        view = views[subtask]
        while waiting[subtask] and view.check(facts(waiting[subtask][0]), policy) is not Check.WAIT:
            action = waiting[subtask].pop(0)
            view.admit(action, policy)
            for event in action.events:
                names.add(event.name)
                for prop, value in event.properties.items():
                    if value is not None:
                        accepted_types.setdefault(f"{event.name}.{prop}", set()).add(type_of(value))
            for op in action.attributes:
                if op.op != "unset":
                    kind = "array" if op.op in ("add_to_set", "pull") else type_of(op.value)
                    accepted_types.setdefault(op.name, set()).add(kind)

    for n in range(150):
        subtask = rng.randrange(3)
        action = _random_action(rng, n)
        proposal = new_groups(facts(action), memos[subtask])
        if proposal:
            decisions, _ = arbiter.decide(proposal, policy)
            for s in range(3):
                inbox[s].append(decisions)
        waiting[subtask].append(action)
        for s in range(3):  # deliver some decisions, in order, to some subtasks
            if inbox[s] and rng.random() < 0.4:
                views[s].learn(inbox[s].pop(0))
            let_out(s)
    for s in range(3):
        while inbox[s]:
            views[s].learn(inbox[s].pop(0))
        let_out(s)
        assert not waiting[s], "every message goes once the decisions arrive"
    assert len(names) <= policy.limits.max_distinct_event_names
    attributes = [name for name in accepted_types if "." not in name]
    assert len(attributes) <= policy.limits.max_distinct_attributes
    assert accepted_types and all(len(kinds) == 1 for kinds in accepted_types.values()), accepted_types


def test_a_full_tenant_answers_every_proposal_so_a_view_restored_empty_never_waits_forever(registry):
    policy = registry.get("acme")
    arbiter = TenantSchema()
    arbiter.decide([["e", "a"], ["e", "b"], ["e", "c"]], policy)  # the limit is 3
    view = TenantSchema()  # e.g. a gate restored from a savepoint older than the gate
    asked = [["e", "d"]]
    assert view.check(asked, policy) is Check.WAIT
    view.learn(arbiter.decide(asked, policy)[0])
    assert view.check(asked, policy) is Check.ADMIT  # refused by the limit, without waiting


# -- the operators on the fake runtime ------------------------------------------------------------

CODEC = AvroCodec()
OPTIONS = UnificationSettings(schema_retry_ms=20, schema_wait_ms=1_000, proposals_memo=1_000)


def _unified(registry, n: int, user: str, event: str, price) -> tuple:
    """What UnifyMessages sends on for an API track message, and its proposal (or None)."""
    raw = json.dumps(
        {
            "type": "track",
            "tenant": "acme",
            "write_key": TEST_KEYS["acme"],
            "message_id": f"m{n}",
            "customer_id": user,
            "event": event,
            "timestamp": 1_700_000_000_000,
            "properties": {"price": price},
        }
    ).encode()
    unify = OperatorDriver(UnifyMessages("api", registry, OPTIONS))
    out = unify.element(raw, timestamp=1_700_000_000_000)
    proposals = [o[1][1] for o in out if o[0] is PROPOSALS]
    records = [o for o in out if len(o) == 8]
    assert len(records) == 1 and len(proposals) <= 1, out
    return records[0], (json.loads(proposals[0]) if proposals else None)


def _routed(record: tuple) -> bytes:
    """The one routed record (a customer id only: no links) of what UnifyMessages sent on."""
    from common.serde.avro import AvroCodec
    from jobs.api_unification.records import action_records

    [(_key, value)] = action_records(AvroCodec(), record[5], record[6])
    return value


def _records(out: list) -> list[tuple[int, bytes]]:
    """(output, value) of every record in the gate's frames."""
    return [(output, value) for frame in out for output, _key, value in frames.unpack(bytes(frame))]


def test_the_gate_holds_only_what_waits_and_keeps_each_users_order(registry):
    gate = OperatorDriver(SchemaGate(registry, OPTIONS))
    first, proposal = _unified(registry, 1, "u1", "viewed", 3)
    second, _ = _unified(registry, 2, "u1", "viewed", 4)  # same user, same facts
    other, _ = _unified(registry, 3, "u2", "viewed", 5)
    assert gate.element(first, key=first[0]) == []  # "viewed" and its price are not decided yet
    assert gate.element(second, key=second[0]) == []  # waits behind the first, though nothing else is missing
    decisions, _ = TenantSchema().decide(proposal, registry.get("acme"))
    assert gate.broadcast(("acme", json.dumps(decisions))) == []
    out = gate.element(other, key=other[0])
    assert _records(out) == [(ACTIONS_OUTPUT, _routed(other))]  # decided now: out as it is
    assert _records(gate.advance(20)) == [(ACTIONS_OUTPUT, _routed(first)), (ACTIONS_OUTPUT, _routed(second))]


def test_a_message_that_waits_too_long_is_refused_with_its_own_reason(registry):
    gate = OperatorDriver(SchemaGate(registry, OPTIONS))
    record, _ = _unified(registry, 1, "u1", "viewed", 3)
    assert gate.element(record, key=record[0]) == []
    assert gate.advance(999) == []
    out = _records(gate.advance(40))  # from on_timer: in a frame (PyFlink drops side outputs there)
    assert [output for output, _ in out] == [REJECTED_OUTPUT]
    rejected = CODEC.decode(out[0][1])
    assert rejected["reason"] == Reason.SCHEMA_UNDECIDED.value and rejected["message_id"] == "m1"


def test_a_conflicting_type_is_dropped_at_the_gate_as_by_one_schema(registry):
    gate = OperatorDriver(SchemaGate(registry, OPTIONS))
    first, proposal = _unified(registry, 1, "u1", "viewed", 3)
    gate.broadcast(("acme", json.dumps(TenantSchema().decide(proposal, registry.get("acme"))[0])))
    cheap, _ = _unified(registry, 2, "u2", "viewed", "cheap")
    out = _records(gate.element(cheap, key=cheap[0]))
    assert [output for output, _ in out] == [ACTIONS_OUTPUT]
    action = CODEC.decode(out[0][1])
    assert action["dropped"] == ["event.properties.price"] and action["events"][0]["properties"] == {}


def test_routing_key_is_per_user_and_prefers_the_customer_id():
    ids = Identifiers(customer_id="c1", emails=["a@x.io"], anonymous_ids=["anon"])
    assert routing_key(Action("acme", "api", "m", "track", 0, ids)) == "acme\x1fcustomer_id:c1"
    ids = Identifiers(emails=["a@x.io"], anonymous_ids=["anon"])
    assert routing_key(Action("acme", "api", "m", "track", 0, ids)) == "acme\x1fanonymous_id:anon"


def test_routing_key_escapes_what_is_not_utf8():
    ids = Identifiers(anonymous_ids=["a\ud800b"])  # a lone surrogate, as JSON's \ud800 escape gives
    key = routing_key(Action("acme", "api", "m", "track", 0, ids))
    assert key == "acme\x1fanonymous_id:a\\ud800b" and key.encode("utf-8")
