"""The same documents at any parallelism, in any schedule Flink could take (issue 16, item 5, on the
pure rules): a merge-heavy workload of one tenant through the simulated stages at parallelism 1, 2
and 4 with deliveries in random order, against the reference model."""

import pytest

from common.contracts.routing import identifier_keys, seal
from harness.models.identity_network import Network, merge_heavy, reference

CAPS = {"acme": 50}


@pytest.fixture(scope="module")
def workload():
    return merge_heavy(seed=16, messages=2500, users=250)


@pytest.fixture(scope="module")
def expected(workload):
    return reference(workload, CAPS)


def test_the_workload_links_identifiers_in_every_way(workload, expected):
    linking = [a for a in workload if len(identifier_keys(a.identifiers)) > 1]
    assert len(linking) / len(workload) >= 0.15
    assert {a.kind for a in workload} == {"batch", "delete_user"}
    counts = expected.counts
    assert counts["merges"] and counts["conflicts"] and counts["links_refused_by_level"] and counts["dropped_deleted"]


@pytest.mark.parametrize("parallelism", [1, 2, 4])
@pytest.mark.parametrize("schedule", range(3))
def test_documents_do_not_depend_on_parallelism_or_schedule(workload, expected, parallelism, schedule):
    got = Network(CAPS, parallelism=parallelism, partitions=8, seed=schedule * 31 + parallelism).run(workload)
    docs, profiles = got.live()
    want_docs, want_profiles = expected.live()
    assert docs == want_docs
    assert profiles == want_profiles
    assert {("users", key) for key in profiles} == {key for key in docs if key[0] == "users"}


def test_nothing_is_lost_every_message_is_folded_dropped_or_a_delete(workload):
    got = Network(CAPS, parallelism=2, partitions=8, seed=5).run(workload)
    deletes = sum(1 for a in workload if a.kind == "delete_user")
    assert got.counts["deletes"] == deletes
    assert got.counts["messages"] + got.counts["dropped_deleted"] + deletes == len(workload)
    folded = {m for m, _u, _i in got.events}
    events = sum(len(a.events) for a in workload if a.message_id in folded)
    assert got.counts["events"] == events == len(got.events)


def _device_keys(network: Network, workload) -> dict[str, object]:
    """Device id -> what its key keeps, for every device of the workload."""
    ids = {a.identifiers.device_id for a in workload if a.identifiers.device_id}
    return {d: network.states[("acme", seal("acme", f"device:{d}"))].device for d in sorted(ids)}


@pytest.mark.parametrize("parallelism", [2, 4])
def test_a_deleted_users_devices_keep_no_field_values_whenever_the_forget_arrives(workload, parallelism):
    """A delete tells its devices' keys to forget their fields through a topic (hw.identity.forget),
    so the forget races the devices' own records: the keys end the same in every schedule, and a
    device whose document is gone (its owner was deleted) keeps no value, its push token least of all."""
    first = Network(CAPS)
    live = {doc["device_id"] for (kind, _), doc in first.run(workload).live()[0].items() if kind == "devices"}
    want = _device_keys(first, workload)
    gone = [d for d in want if d not in live]
    assert gone and first.out.counts["devices_forgotten"] and first.out.counts["device_fields_restarted"]
    assert all(want[d].fields == {} and want[d].forgotten for d in gone)
    assert any(want[d].fields.get("push_token") for d in live)  # a live device keeps its token
    for schedule in range(3):
        network = Network(CAPS, parallelism=parallelism, partitions=8, seed=schedule * 7 + parallelism)
        network.run(workload)
        assert _device_keys(network, workload) == want
