"""Every value kept in Flink state, pinned like the Avro schemas (schemas/fingerprints.json).

A savepoint holds each operator's state under its uid and state name, as bytes that PyFlink pickles
from the values the operators store. A change of a state name, of the order of a packed tuple, or of
what a value holds makes old savepoints restore into nonsense or not at all. So:

- tests/fixtures/state_layouts.json records, per state, its name and the packed form of a sample
  value; a change shows here first. If it is on purpose: add fields at the end with a default (old
  values are shorter tuples: the unpackers fill the default), or write a migration, note it in
  CHANGELOG.md, and record the new layout (`python -m tests.unit.test_state_layouts` rewrites the file);
- no stored value pickles a class: a savepoint must not depend on the module a class lives in.
"""

from __future__ import annotations

import json
import pickle
import pickletools
import sys

from common.config import REPO_ROOT
from common.contracts.actions import Action, Identifiers
from common.contracts.routing import LEVELS
from jobs.action_streaming import level_operator
from jobs.action_streaming.fragments import DeviceEntry, Fragment
from jobs.action_streaming.level_codec import pack_item, pack_key_state, unpack_item, unpack_key_state
from jobs.action_streaming.levels import DeviceInfo, KeyState, Payload, Shipment
from jobs.api_unification import operators as unification_operators
from jobs.api_unification.tenant_schema import TenantSchema, pack_schema, unpack_schema
from jobs.audience_computation import operators as audience_operators
from jobs.audience_computation.definitions import BucketDefinitions
from jobs.audience_computation.job import batches_uid as audience_batches_uid
from jobs.audience_computation.job import judge_uid
from jobs.audience_computation.memberships import User
from jobs.profile_dedupe import operators as dedupe_operators
from jobs.profile_dedupe.buckets import batches_uid, decide_uid
from jobs.profile_dedupe.profiles import Membership, ProfileState, pack, unpack
from jobs.reaction_streaming import operators as reaction_operators
from jobs.reaction_streaming.parking import Parked

DEDUPE_UID = decide_uid("profile-dedupe", 16)  # HEADWATER_DEDUPE_BUCKETS' default
GOLDEN = REPO_ROOT / "tests" / "fixtures" / "state_layouts.json"

SCHEMA = TenantSchema({"purchased", "app_opened"}, {"purchased\x1ftotal": "number"}, {"plan": "string"})
PROFILE = ProfileState(
    ids=(),
    known=True,
    merged_into=None,
    computations={"aud-1": Membership(True, frozenset({"email-1", "sms-1"}))},
    seen={"m-1": 10_000},
)
FRAGMENT = Fragment(
    identifiers={"customer_id:c-1": 1_000, "anonymous_id:a-1": 900},
    messages=3,
    ops=7,
    first_seen_ms=900,
    last_seen_ms=2_000,
    counters={"app_opened": 3},
    registers={"plan": ((1_500, "m-2", 0), True, "pro")},
    elements={"tags": {"'a'": ((1_600, "m-3", 1), True, "a")}},
    devices={"d-1": DeviceEntry(2, True, {"platform": "ios", "last_seen": 2_000}, 900)},
)
KEY_STATE = KeyState(None, 1_000, FRAGMENT, None)
DEVICE_KEY = KeyState(
    "customer_id:c-1", 900, None, DeviceInfo("customer_id:c-1", (2_000, "m-3"), {"platform": "ios"}, 2_000, 2)
)
AUDIENCE_UID = judge_uid(16)  # HEADWATER_AUDIENCE_BUCKETS' default
AUDIENCE_USER = User(
    attributes={"plan": "pro"},
    events={"purchased": [1_000, 2_000]},
    now_ms=2_000,
    inside={"buyers"},
    changes={"buyers": 1, "lapsed": 2},
    ids=frozenset({("email", "a@x.io")}),
    due_ms=3_000,
    taken={"u-merged": 2},
)
SHIPMENT = Shipment(Fragment(identifiers={"email:a@x.io": 1_200}, ops=1), "m-4")


def _level_layouts() -> dict[str, dict]:
    """action-streaming: each level's keys, and the items in flight in its batches."""
    out = {}
    for kind in LEVELS:
        out[f"action-streaming/{kind}-identifiers"] = {
            "uid": f"action-streaming-{kind}-keys",
            "state": level_operator.IDENTIFIERS.name,
            "kind": "map: tenant|sealed identifier key (routing.seal) -> packed KeyState (level_codec.py)",
            "packed": repr([pickle.loads(pack_key_state(KEY_STATE)), pickle.loads(pack_key_state(DEVICE_KEY))]),
        }
    out["action-streaming/forwarded"] = {
        "uid": "action-streaming-customer_id-batches",
        "state": "pending",
        "kind": "list: stage elements (IdentityLevels.java); a forwarded item is packed by level_codec.pack_item",
        "packed": repr(pickle.loads(pack_item(SHIPMENT, bytes))),
    }
    return out


def layouts() -> dict[str, dict]:
    """State -> (operator uid, state name, packed sample): what the golden file records."""
    return {
        "api-unification/tenant_schema": {
            "uid": "api-unification-tenant-schema",
            "state": unification_operators.TENANT_SCHEMA.name,
            "kind": "value",
            "packed": repr(pack_schema(SCHEMA)),
        },
        "api-unification/schema_decisions": {
            "uid": "api-unification-schema-gate",
            "state": unification_operators.SCHEMA_VIEW.name,
            "kind": "broadcast map: tenant -> packed schema (the arbiter's decisions)",
            "packed": repr(pack_schema(TenantSchema({"app_opened"}, {}, {"plan": "string"}, 500, 0))),
        },
        "api-unification/waiting_for_schema": {
            "uid": "api-unification-schema-gate",
            "state": unification_operators.WAITING.name,
            "kind": "list: (unified message tuple, parked at ms)",
            "packed": repr((("acme\x1fcustomer_id:c", "acme", "api", 1, b"{}", b"acme", b"\x02", "[]"), 9)),
        },
        "reaction-streaming/pending": {
            "uid": "reaction-streaming-apply-8-shards",
            "state": reaction_operators.PENDING.name,
            "kind": "list: raw state_delta values",
            "packed": repr(b"\xc3\x01..."),
        },
        "reaction-streaming/parked": {
            "uid": "reaction-streaming-apply-8-shards",
            "state": reaction_operators.PARKED.name,
            "kind": "map: doc id -> (refused versions, waiting raw state_delta values)",
            "packed": repr(Parked({3}, [b"\xc3\x01..."]).pack()),
        },
        "profile-dedupe/profiles": {
            "uid": DEDUPE_UID,
            "state": dedupe_operators.PROFILES_STATE.name,
            "kind": "map: tenant NUL profile id -> profile",
            "packed": repr(pack(PROFILE)),
        },
        "profile-dedupe/handovers": {
            "uid": DEDUPE_UID,
            "state": dedupe_operators.HANDOVERS_STATE.name,
            "kind": "map: tenant NUL merge message id -> {merged profile of another bucket: its handover "
            "(ids, known, member, messaged) or None while it has not come}",
            "packed": repr({"p-3": ((("email", "a@x.io", 5),), True, True, ("email-1",)), "p-4": None}),
        },
        "profile-dedupe/parked": {
            "uid": DEDUPE_UID,
            "state": dedupe_operators.PARKED_STATE.name,
            "kind": "list: ((raw compute_message value, or a merge's copy marked for this bucket; its Kafka "
            "timestamp or None), parked at ms)",
            "packed": repr(((b"\xc3\x01...", 900), 1_000)),
        },
        "profile-dedupe/pending_times": {
            "uid": batches_uid("profile-dedupe", 16),
            "state": "pending_times",
            "kind": "list: the Kafka timestamps (Java long) of the batcher's pending records, oldest first "
            "(TenantBatches.java, BESIDE)",
            "packed": repr(1_700_000_000_000),
        },
        "profile-dedupe/config": {
            "uid": DEDUPE_UID,
            "state": dedupe_operators.CONFIG_STATE.name,
            "kind": "broadcast map: config key -> (schema name, decoded record, digest)",
            "packed": repr(("destination", {"tenant": "acme", "destination_id": "d"}, "0123456789abcdef")),
        },
        "audience-computation/users": {
            "uid": AUDIENCE_UID,
            "state": audience_operators.USERS_STATE.name,
            "kind": "map: tenant NUL user id -> packed User (memberships.py)",
            "packed": repr(AUDIENCE_USER.pack()),
        },
        "audience-computation/definitions": {
            "uid": AUDIENCE_UID,
            "state": audience_operators.DEFINITIONS_STATE.name,
            "kind": "value: (tenant -> audience id -> condition JSON, key -> digest of the snapshot's record)",
            "packed": repr(BucketDefinitions({"acme": {"pro": '{"attribute": "plan", "equals": "pro"}'}}, {}).pack()),
        },
        "audience-computation/timers": {
            "uid": AUDIENCE_UID,
            "state": audience_operators.TIMERS_STATE.name,
            "kind": "map: hour of event time (long) -> sorted tenant NUL user names due in it",
            "packed": repr(("acme\x00u-1", "acme\x00u-2")),
        },
        "audience-computation/timer_hours": {
            "uid": AUDIENCE_UID,
            "state": audience_operators.TIMER_HOURS_STATE.name,
            "kind": "value: sorted list of the hours `timers` holds",
            "packed": repr([472_222, 472_223]),
        },
        "audience-computation/pending_times": {
            "uid": audience_batches_uid(16),
            "state": "pending_times",
            "kind": "list: the Kafka timestamps (Java long) of the batcher's pending records (BESIDE)",
            "packed": repr(1_700_000_000_000),
        },
        **_level_layouts(),
    }


def test_state_layouts_match_the_recorded_ones():
    recorded = json.loads(GOLDEN.read_text())
    current = layouts()
    changed = sorted(name for name in set(recorded) | set(current) if recorded.get(name) != current.get(name))
    assert not changed, (
        f"state layout changed: {', '.join(changed)}. Old savepoints hold the recorded layout: add fields at "
        "the end with a default or write a migration, say so in CHANGELOG.md, then record the new layout with "
        "`python -m tests.unit.test_state_layouts`"
    )


def test_stored_values_round_trip_and_name_no_class():
    assert unpack(pack(PROFILE)) == PROFILE
    assert unpack_schema(pack_schema(SCHEMA)) == SCHEMA
    assert unpack_key_state(pack_key_state(KEY_STATE)) == KEY_STATE
    assert unpack_key_state(pack_key_state(DEVICE_KEY)) == DEVICE_KEY
    assert unpack_item(pack_item(SHIPMENT, bytes), bytes) == SHIPMENT
    payload = Payload(Action("acme", "sdk", "m-1", "batch", 5, Identifiers(customer_id="c")), "customer_id:c")
    assert unpack_item(pack_item(payload, lambda a: a.message_id.encode()), lambda raw: payload.action) == payload
    for raw in (pack_key_state(KEY_STATE), pack_key_state(DEVICE_KEY), pack_item(SHIPMENT, bytes)):
        opcodes = {op.name for op, _arg, _pos in pickletools.genops(raw)}
        assert not opcodes & {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "NEWOBJ", "REDUCE"}, raw
    assert User.unpack(AUDIENCE_USER.pack()) == AUDIENCE_USER
    for value in (pack(PROFILE), pack_schema(SCHEMA), AUDIENCE_USER.pack()):
        opcodes = {op.name for op, _arg, _pos in pickletools.genops(pickle.dumps(value))}
        assert not opcodes & {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "NEWOBJ", "REDUCE"}, value


def test_older_stored_values_still_read():
    """A tenant schema stored by a release before 0.2 is a pickled TenantSchema."""
    assert unpack_schema(SCHEMA) is SCHEMA and unpack_schema(None) == TenantSchema()
    assert unpack_schema(pack_schema(SCHEMA)[:3]) == SCHEMA  # 0.2 stored three fields


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(layouts(), indent=2, sort_keys=True) + "\n")
    sys.stdout.write(f"recorded {GOLDEN}\n")
