"""The dedupe decision tree, one row per branch (docs/profile-dedupe.md has the same table).

Each row: trigger and value of the message, the destination's dedupes_on, what the profile already
has, and the expected decision: the branch reached and the ids sent (None: dropped).
"""

import pytest

from jobs.profile_dedupe.decide import decide_legacy, decide_new, latest_of_type
from jobs.profile_dedupe.profiles import Membership
from tests.unit.profile_dedupe.scenario import ALL, CUSTOMER, EMAIL_NEW, EMAIL_OLD, PHONE, destination, message

IN = Membership(member=True)
OUT = Membership()
MESSAGED = Membership(member=True, messaged=frozenset({"d-email"}))
MESSAGED_ELSEWHERE = Membership(member=True, messaged=frozenset({"d-other"}))
PAIRS_ALL = tuple(sorted(i.pair for i in ALL))

ROWS = [
    # id, trigger, value, dedupes_on, membership, before_merge, ids, new id, branch, sent ids
    (
        "entered: latest id of the type",
        "value_changed",
        "entered",
        "email",
        OUT,
        [],
        ALL,
        None,
        "value_changed.entered.send_some",
        (EMAIL_NEW.pair,),
    ),
    (
        "entered: sms dedupes on phone",
        "value_changed",
        "entered",
        "phone",
        OUT,
        [],
        ALL,
        None,
        "value_changed.entered.send_some",
        (PHONE.pair,),
    ),
    (
        "entered: no id of the type",
        "value_changed",
        "entered",
        "email",
        OUT,
        [],
        (CUSTOMER, PHONE),
        None,
        "value_changed.entered.no_id_of_type",
        None,
    ),
    (
        "entered again: already messaged here",
        "value_changed",
        "entered",
        "email",
        MESSAGED,
        [],
        ALL,
        None,
        "value_changed.already_messaged",
        None,
    ),
    (
        "entered: messaged by another destination only",
        "value_changed",
        "entered",
        "email",
        MESSAGED_ELSEWHERE,
        [],
        ALL,
        None,
        "value_changed.entered.send_some",
        (EMAIL_NEW.pair,),
    ),
    ("exited: nothing", "value_changed", "exited", "email", IN, [], ALL, None, "value_changed.exited.drop", None),
    (
        "trait value: like entered",
        "value_changed",
        42,
        "email",
        OUT,
        [],
        ALL,
        None,
        "value_changed.entered.send_some",
        (EMAIL_NEW.pair,),
    ),
    ("trait null: like exited", "value_changed", None, "email", IN, [], ALL, None, "value_changed.exited.drop", None),
    (
        "new id of the type, not yet messaged",
        "new_external_id",
        "entered",
        "email",
        IN,
        [],
        (CUSTOMER, EMAIL_NEW),
        EMAIL_NEW,
        "new_external_id.send_some",
        (EMAIL_NEW.pair,),
    ),
    (
        "new id not of the type",
        "new_external_id",
        "entered",
        "email",
        IN,
        [],
        (CUSTOMER, PHONE),
        PHONE,
        "new_external_id.not_of_type",
        None,
    ),
    (
        "new id of the type, already messaged",
        "new_external_id",
        "entered",
        "email",
        MESSAGED,
        [],
        ALL,
        EMAIL_NEW,
        "new_external_id.already_messaged",
        None,
    ),
    (
        "new id while out of the computation",
        "new_external_id",
        "exited",
        "email",
        OUT,
        [],
        ALL,
        EMAIL_NEW,
        "new_external_id.not_in_computation",
        None,
    ),
    (
        "merge: neither was in the computation",
        "profile_merge",
        "entered",
        "email",
        OUT,
        [OUT, OUT],
        ALL,
        None,
        "profile_merge.send_some",
        (EMAIL_NEW.pair,),
    ),
    (
        "merge: one was already in the computation",
        "profile_merge",
        "entered",
        "email",
        OUT,
        [IN, OUT],
        ALL,
        None,
        "profile_merge.already_in_computation",
        None,
    ),
    (
        "merge: one was messaged here (and left)",
        "profile_merge",
        "entered",
        "email",
        OUT,
        [OUT, Membership(messaged=frozenset({"d-email"}))],
        ALL,
        None,
        "profile_merge.already_in_computation",
        None,
    ),
    (
        "merge: no id of the type",
        "profile_merge",
        "entered",
        "email",
        OUT,
        [OUT, OUT],
        (CUSTOMER,),
        None,
        "profile_merge.no_id_of_type",
        None,
    ),
    (
        "merge into a profile out of the computation",
        "profile_merge",
        "exited",
        "email",
        OUT,
        [OUT, OUT],
        ALL,
        None,
        "profile_merge.not_in_computation",
        None,
    ),
    (
        "no dedupes_on: all ids, entered",
        "value_changed",
        "entered",
        None,
        MESSAGED,
        [],
        ALL,
        None,
        "no_dedupes_on.send_all",
        PAIRS_ALL,
    ),
    (
        "no dedupes_on: all ids, exited too",
        "value_changed",
        "exited",
        None,
        IN,
        [],
        ALL,
        None,
        "no_dedupes_on.send_all",
        PAIRS_ALL,
    ),
    (
        "no dedupes_on: every update, merges too",
        "profile_merge",
        "entered",
        None,
        OUT,
        [IN, IN],
        ALL,
        None,
        "no_dedupes_on.send_all",
        PAIRS_ALL,
    ),
    (
        "no dedupes_on: nothing to send without ids",
        "value_changed",
        "entered",
        None,
        OUT,
        [],
        (),
        None,
        "no_dedupes_on.no_external_ids",
        None,
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_decision_table(row):
    _, trigger, value, dedupes_on, membership, before_merge, ids, new_id, branch, sent = row
    kind = "audience" if value in ("entered", "exited") else "computed_trait"
    msg = message(trigger, value, kind=kind, new_id=new_id, merged=("p-1", "p-2") if trigger == "profile_merge" else ())
    decision = decide_new(msg, destination(dedupes_on=dedupes_on), membership, before_merge, ids)
    assert decision.branch == branch
    assert (decision.delivery.ids if decision.delivery else None) == sent


def test_every_leaf_of_the_tree_has_a_row():
    import inspect

    import jobs.profile_dedupe.decide as decide

    source = inspect.getsource(decide)
    leaves = {
        "value_changed.exited.drop",
        "value_changed.already_messaged",
        "new_external_id.not_in_computation",
        "new_external_id.not_of_type",
        "new_external_id.already_messaged",
        "profile_merge.not_in_computation",
        "profile_merge.already_in_computation",
    }
    for leaf in leaves:
        assert f'"{leaf}"' in source
    covered = {r[8] for r in ROWS}
    for prefix in ("value_changed.entered", "new_external_id", "profile_merge"):
        leaves |= {f"{prefix}.send_some", f"{prefix}.no_id_of_type"} - ({"new_external_id.no_id_of_type"})
    leaves |= {"no_dedupes_on.send_all", "no_dedupes_on.no_external_ids"}
    assert leaves <= covered


def test_legacy_path_ignores_dedupes_on():
    decision = decide_legacy(message(value="exited"), destination(dedupes_on="email"), ALL)
    assert decision.branch == "legacy.send_all" and decision.delivery.ids == PAIRS_ALL


def test_latest_of_type_breaks_ties_by_value():
    from common.contracts.profiles import ExternalId

    a, b = ExternalId("email", "a@x.io", 5), ExternalId("email", "b@x.io", 5)
    assert latest_of_type((b, a), "email") == latest_of_type((a, b), "email") == b
    assert latest_of_type((EMAIL_OLD, EMAIL_NEW), "email") == EMAIL_NEW
    assert latest_of_type((EMAIL_OLD,), "phone") is None
