"""Single-object encoding as the Avro spec defines it, and resolution of old writer schemas."""

import io
import json
import struct

import avro.io
import avro.schema
import fastavro
import pytest

from common.serde.avro import MAGIC, AvroCodec, SchemaRegistry, SerdeError, schema_fingerprint


def _registry(tmp_path, versions: dict[str, list[dict]]) -> SchemaRegistry:
    for name, schemas in versions.items():
        folder = tmp_path / name
        folder.mkdir()
        for i, schema in enumerate(schemas, start=1):
            (folder / f"v{i}.avsc").write_text(json.dumps(schema))
    return SchemaRegistry(tmp_path)


V1 = {"type": "record", "name": "User", "namespace": "t", "fields": [{"name": "id", "type": "string"}]}
V2 = {
    "type": "record",
    "name": "User",
    "namespace": "t",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "email", "type": ["null", "string"], "default": None},
    ],
}


def test_fingerprint_matches_the_spec_test_vector():
    # The Avro spec's CRC-64-AVRO of the schema "null" is 7195948357588979594 (as a Java long),
    # written little-endian in the single-object header.
    assert schema_fingerprint(fastavro.parse_schema("null")) == struct.pack("<q", 7195948357588979594)


def test_header_is_marker_fingerprint_then_avro_body(tmp_path):
    codec = AvroCodec(_registry(tmp_path, {"user": [V1]}))
    data = codec.encode("user", {"id": "u1"})
    assert data[:2] == MAGIC == b"\xc3\x01"
    # the fingerprint and the body agree with the Apache Avro reference implementation
    ref_schema = avro.schema.parse(json.dumps(V1))
    assert data[2:10] == ref_schema.fingerprint("CRC-64-AVRO")
    out = io.BytesIO()
    avro.io.DatumWriter(ref_schema).write({"id": "u1"}, avro.io.BinaryEncoder(out))
    assert data[10:] == out.getvalue()


def test_roundtrip(tmp_path):
    codec = AvroCodec(_registry(tmp_path, {"user": [V1]}))
    assert codec.decode(codec.encode("user", {"id": "ü-1"})) == {"id": "ü-1"}


def test_old_writer_is_resolved_to_current_reader(tmp_path):
    codec = AvroCodec(_registry(tmp_path, {"user": [V1, V2]}))
    written_by_v1 = codec.encode("user", {"id": "u1"}, version=1)
    assert codec.writer_of(written_by_v1).version == 1
    assert codec.decode(written_by_v1) == {"id": "u1", "email": None}


def test_unknown_fingerprint_is_a_clear_error(tmp_path):
    codec = AvroCodec(_registry(tmp_path, {"user": [V1]}))
    data = bytearray(codec.encode("user", {"id": "u1"}))
    data[2:10] = b"\x00" * 8
    with pytest.raises(SerdeError, match="unknown schema fingerprint 0000000000000000"):
        codec.decode(bytes(data))


@pytest.mark.parametrize("data", [b"", b'{"json": 1}', b"\xc3"])
def test_value_without_marker_is_refused(tmp_path, data):
    codec = AvroCodec(_registry(tmp_path, {"user": [V1]}))
    with pytest.raises(SerdeError, match="C3 01"):
        codec.decode(data)


def test_truncated_body_is_a_serde_error(tmp_path):
    codec = AvroCodec(_registry(tmp_path, {"user": [V1]}))
    with pytest.raises(SerdeError):
        codec.decode(codec.encode("user", {"id": "a-long-identifier"})[:-5])
