"""Every job's graph builds with `pipeline.auto-generate-uids: false`: each operator has a stable uid,
so a savepoint restores into a new version or another parallelism (docs/operations.md). Integration:
building profile-dedupe reads its configuration topics."""

import json

import pytest

from common.config import REPO_ROOT
from common.flink.settings import static_settings
from jobs import registry

pytestmark = pytest.mark.integration


def test_uids_are_required_and_max_parallelism_is_fixed():
    conf = static_settings()
    assert conf["pipeline.auto-generate-uids"] == "false"
    assert int(conf["pipeline.max-parallelism"]) >= 64


@pytest.mark.parametrize("name", sorted(registry.JOBS))
def test_every_operator_has_a_stable_uid(name, isolated_env):
    from common.flink.environment import job_environment

    _env, settings = isolated_env
    env = job_environment(settings, name)
    registry.job_module(name).build(env, settings)
    transformations = list(env._j_stream_execution_environment.getTransformations())
    env.get_execution_plan()  # raises "Auto generated UIDs have been disabled ..." for an operator without one
    uids, seen, todo = [], set(), transformations
    while todo:
        t = todo.pop()
        if t.getId() in seen:
            continue
        seen.add(t.getId())
        todo.extend(t.getInputs())
        if t.getUid() is not None:
            uids.append(t.getUid())
    assert len(uids) == len(set(uids)) >= 3
    assert all(uid.startswith(name) for uid in uids), uids
    # The operators that hold state keep the uids their savepoints name (tests/fixtures/state_layouts.json).
    layouts = json.loads((REPO_ROOT / "tests" / "fixtures" / "state_layouts.json").read_text())
    stateful = {layout["uid"] for key, layout in layouts.items() if key.startswith(f"{name}/")}
    assert stateful <= set(uids), f"{name} lost the uid of an operator with state: {stateful - set(uids)}"


def test_the_application_mode_entry_point_builds_a_job(isolated_env):
    """jobs/application.py (what a FlinkDeployment runs, infra/k8s.py) builds the same graph in the
    environment of an application cluster (not executed here: no Kubernetes)."""
    from common.flink.environment import application_environment, job_environment

    _env, settings = isolated_env
    job_environment(settings, "api-unification")  # starts the gateway, as PythonDriver has in a cluster
    env = application_environment(settings, "api-unification")
    registry.job_module("api-unification").build(env, settings)
    plan = env.get_execution_plan()  # raises for an operator without a uid, as for `run`
    assert "schema gate" in plan and "exactly-once sink" in plan, plan[:500]


def test_the_java_router_puts_a_profile_in_the_bucket_python_computes(isolated_env):
    """profile-dedupe's operator tells which profiles of a merge are its own by the bucket it computes
    (buckets.py); ProfileBuckets.java routes by the same rule, or a merge would wait forever."""
    from pyflink.java_gateway import get_gateway

    from common.contracts.compute import message_record
    from common.contracts.profiles import ProfileIds
    from common.flink.environment import job_environment
    from common.serde.avro import AvroCodec
    from harness.dedupe import profile_value
    from jobs.profile_dedupe.buckets import bucket_of, unmark
    from tests.unit.profile_dedupe.scenario import message

    _env, settings = isolated_env
    job_environment(settings, "profile-dedupe")  # the gateway, with the support jar
    gateway, codec, buckets = get_gateway(), AvroCodec(), 16
    flink = gateway.jvm.headwater.flink
    headers = [
        b"\xc3\x01" + codec.registry.current(n).fingerprint
        for n in ("compute_message", "identity_profile", "dedupe_handover")
    ]
    names = gateway.new_array(gateway.jvm.java.lang.String, buckets)
    for i in range(buckets):
        names[i] = f"b{i}"
    key = getattr(flink, "ProfileBuckets$Key")(*headers, names)
    route = getattr(flink, "ProfileBuckets$Route")(*headers, buckets)
    for n in range(200):
        profile = f"p-{n}-é" if n % 3 else f"p-{n}"
        merged = [profile, f"q-{n}", f"r-{n}", "p-1"]
        raw = codec.encode(
            "compute_message", message_record(message(profile=profile, trigger="profile_merge", merged=merged))
        )
        assert key.getKey(raw) == f"b{bucket_of('acme', profile, buckets)}"
        assert (
            key.getKey(profile_value(codec, "acme", profile, ProfileIds())) == f"b{bucket_of('acme', profile, buckets)}"
        )
        out = gateway.jvm.java.util.ArrayList()
        route.flatMap(raw, gateway.jvm.org.apache.flink.api.common.functions.util.ListCollector(out))
        copies = [unmark(bytes(v), buckets) for v in out]
        assert all(body == raw for body, _b in copies)
        assert [b for _body, b in copies][0] is None  # the original, to the survivor's bucket
        wanted = {bucket_of("acme", p, buckets) for p in merged} - {bucket_of("acme", profile, buckets)}
        assert sorted(b for _body, b in copies[1:]) == sorted(wanted)
        assert [key.getKey(bytes(v)) for v in out][1:] == [f"b{b}" for _body, b in copies[1:]]
    assert key.getKey(b"\xc3\x00\x00\x00\x00\x63 forged") == key.getKey(b"not avro")  # no bucket 99: as unreadable


def test_audience_computation_keys_a_user_where_python_computes_and_copies_definitions_to_every_bucket(
    isolated_env,
):
    """UserBuckets.java keys every record audience-computation reads by the bucket common/flink/buckets.py
    computes of its (tenant, user); a definition reaches each bucket once, marked for it."""
    from pyflink.java_gateway import get_gateway

    from common.contracts.audiences import audience_record
    from common.flink.buckets import bucket_of, unmark
    from common.flink.environment import job_environment
    from common.serde.avro import AvroCodec
    from harness.audiences import enriched_value, identity_value

    _env, settings = isolated_env
    job_environment(settings, "audience-computation")
    gateway, codec, buckets = get_gateway(), AvroCodec(), 16
    flink = gateway.jvm.headwater.flink
    names = gateway.new_array(gateway.jvm.java.lang.String, buckets)
    for i in range(buckets):
        names[i] = f"b{i}"
    key = getattr(flink, "UserBuckets$Key")(names)
    for n in range(200):
        user = f"u-{n}-é" if n % 3 else f"u-{n}"
        want = f"b{bucket_of('acme', user, buckets)}"
        assert key.getKey(enriched_value(codec, "acme", (user, "viewed", 1, {}))) == want
        assert key.getKey(identity_value(codec, "acme", user, [])) == want
    definition = codec.encode("audience_definition", audience_record("acme", "pro", "{}"))
    header = b"\xc3\x01" + codec.registry.current("audience_definition").fingerprint
    everywhere = getattr(flink, "UserBuckets$Everywhere")(header, buckets)
    out = gateway.jvm.java.util.ArrayList()
    everywhere.flatMap(definition, gateway.jvm.org.apache.flink.api.common.functions.util.ListCollector(out))
    copies = [unmark(bytes(v), buckets) for v in out]
    assert [b for _body, b in copies] == list(range(buckets)) and all(body == definition for body, _b in copies)
    assert [key.getKey(bytes(v)) for v in out] == [f"b{i}" for i in range(buckets)]
