"""Every schema in schemas/: released versions are immutable, and each new version reads the old ones.

A schema change that is not backward compatible fails here, before it can break a replay.
"""

import io
import json

import fastavro
import pytest
from fastavro.utils import generate_many

from common.serde.avro import SCHEMAS_DIR, SchemaRegistry

REGISTRY = SchemaRegistry()
LOCK = json.loads((SCHEMAS_DIR / "fingerprints.json").read_text())
PAIRS = [
    (name, old, new)
    for name, versions in REGISTRY.versions.items()
    for i, new in enumerate(versions)
    for old in versions[: i + 1]
]


def test_registry_is_not_empty():
    assert "envelope" in REGISTRY.versions


@pytest.mark.parametrize("name", sorted(REGISTRY.versions))
def test_released_versions_are_recorded_and_unchanged(name):
    recorded = LOCK.get(name, {})
    for v in REGISTRY.versions[name]:
        assert str(v.version) in recorded, (
            f'{v.path} is not in schemas/fingerprints.json: add "{v.version}": "{v.fingerprint_hex}" under "{name}"'
        )
        assert recorded[str(v.version)] == v.fingerprint_hex, (
            f"{v.path} was edited after release "
            f"(fingerprint {v.fingerprint_hex}, recorded {recorded[str(v.version)]}): "
            "released schemas are immutable, add a new version file instead"
        )


@pytest.mark.parametrize("name", sorted(LOCK))
def test_no_released_version_was_deleted(name):
    present = {str(v.version) for v in REGISTRY.versions.get(name, [])}
    assert set(LOCK[name]) <= present, f"released versions of {name} deleted: {set(LOCK[name]) - present}"


@pytest.mark.parametrize("name,old,new", PAIRS, ids=[f"{n}-v{o.version}-read-by-v{w.version}" for n, o, w in PAIRS])
def test_newer_version_reads_what_older_wrote(name, old, new):
    for record in generate_many(old.parsed, 50):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, old.parsed, record)
        buf.seek(0)
        fastavro.schemaless_reader(buf, old.parsed, new.parsed)


TENANT_FIRST = {
    "unified_action",
    "state_delta",
    "enriched_event",
    "identity_profile",
    "compute_message",
    "destination",
    "dedupe_rollout",
    "outbound_event",
    "dedupe_mismatch",
}


@pytest.mark.parametrize("name", sorted(TENANT_FIRST))
def test_records_between_jobs_start_with_their_tenant(name):
    """common/serde/peek.py reads the tenant as the first string of the record."""
    first = REGISTRY.current(name).parsed["fields"][0]
    assert (first["name"], first["type"]) == ("tenant", "string")


def test_an_incompatible_change_is_caught(tmp_path):
    """The check above really fails on a breaking change: a new required field without default."""
    v1 = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}
    v2 = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}, {"name": "b", "type": "int"}]}
    old, new = fastavro.parse_schema(v1, named_schemas={}), fastavro.parse_schema(v2, named_schemas={})
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, old, {"a": "x"})
    buf.seek(0)
    with pytest.raises(fastavro.read.SchemaResolutionError):
        fastavro.schemaless_reader(buf, old, new)


@pytest.mark.parametrize("name", sorted(REGISTRY.versions))
def test_a_newer_writer_is_refused_cleanly_by_this_reader(name):
    """Forward check: a writer deployed before its reader (a version this code does not know yet) emits a
    value that this code refuses with SerdeError, which every job turns into a rejection with the
    original bytes (never another exception, which would crash-loop a job)."""
    from common.serde.avro import MAGIC, AvroCodec, SerdeError, schema_fingerprint

    current = REGISTRY.current(name).parsed
    newer = {**current, "fields": [*current["fields"], {"name": "added_later", "type": "long", "default": 0}]}
    parsed = fastavro.parse_schema(newer)
    record = {**next(generate_many(current, 1)), "added_later": 7}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, parsed, record)
    value = MAGIC + schema_fingerprint(parsed) + body.getvalue()
    with pytest.raises(SerdeError, match="unknown schema fingerprint"):
        AvroCodec().decode(value)
