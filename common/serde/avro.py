"""Avro single-object encoding with `schemas/` as the registry.

Every Kafka value between jobs is `C3 01` + the 8-byte CRC-64-AVRO fingerprint of the writer schema's
Parsing Canonical Form (little-endian, as the Avro spec fixes it) + the Avro binary body. A reader
looks the fingerprint up among *all* released versions in `schemas/`, then resolves the writer's
version to the current (newest) version of the same schema, so a job deployed with v2 still reads
records written by v1 before the deploy, which a replay from a savepoint depends on.

Layout of the registry: `schemas/<name>/v<N>.avsc`, each file a complete schema. Released versions
are immutable: `schemas/fingerprints.json` records each one's fingerprint, and a test refuses an
edit in place or a new version that cannot read what an older one wrote.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from common.config import REPO_ROOT
from common.errors import HeadwaterError

MAGIC = b"\xc3\x01"
HEADER_LEN = len(MAGIC) + 8
SCHEMAS_DIR = REPO_ROOT / "schemas"
_VERSION_FILE = re.compile(r"^v(\d+)\.avsc$")


class SerdeError(HeadwaterError, ValueError):
    """A value that cannot be decoded: not single-object encoded, or written with an unknown schema."""


@dataclass(frozen=True)
class SchemaVersion:
    name: str
    version: int
    path: Path
    parsed: Any
    fingerprint: bytes

    @property
    def fingerprint_hex(self) -> str:
        return self.fingerprint.hex()


def _parse(path: Path) -> Any:
    # A fresh named-types table per file: v1 and v2 of one schema share record names.
    return fastavro.parse_schema(json.loads(path.read_text()), named_schemas={})


def schema_fingerprint(parsed: Any) -> bytes:
    """The 8 header bytes: CRC-64-AVRO of the Parsing Canonical Form, little-endian."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


class SchemaRegistry:
    """All versions of all schemas under a folder, indexed by name and by fingerprint."""

    def __init__(self, root: Path = SCHEMAS_DIR):
        self.root = root
        self.versions: dict[str, list[SchemaVersion]] = {}
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            found = []
            for path in folder.iterdir():
                match = _VERSION_FILE.match(path.name)
                if match:
                    parsed = _parse(path)
                    found.append(
                        SchemaVersion(folder.name, int(match.group(1)), path, parsed, schema_fingerprint(parsed))
                    )
            if found:
                self.versions[folder.name] = sorted(found, key=lambda v: v.version)
        for versions in self.versions.values():
            for v in versions:
                other = self._by_fingerprint.setdefault(v.fingerprint, v)
                if other is not v:
                    raise SerdeError(f"{v.path} and {other.path} have the same canonical form")

    def current(self, name: str) -> SchemaVersion:
        try:
            return self.versions[name][-1]
        except KeyError:
            raise SerdeError(f"no schema named {name!r} under {self.root}") from None

    def by_fingerprint(self, fp: bytes) -> SchemaVersion:
        try:
            return self._by_fingerprint[fp]
        except KeyError:
            raise SerdeError(f"value written with unknown schema fingerprint {fp.hex()}") from None


class AvroCodec:
    """Encode with the current version of a schema; decode any known version into the current one."""

    def __init__(self, registry: SchemaRegistry | None = None):
        self.registry = registry or SchemaRegistry()

    def encode(self, name: str, record: dict, version: int | None = None) -> bytes:
        schema = self.registry.current(name) if version is None else self._version(name, version)
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(schema.fingerprint)
        fastavro.schemaless_writer(out, schema.parsed, record)
        return out.getvalue()

    def decode(self, data: bytes, name: str | None = None) -> dict:
        """Decode one value; resolve it to the current version of `name` (default: the writer's own schema)."""
        writer = self.writer_of(data)
        reader = self.registry.current(name or writer.name)
        body = io.BytesIO(memoryview(data)[HEADER_LEN:])
        try:
            return fastavro.schemaless_reader(body, writer.parsed, reader.parsed)
        except (EOFError, ValueError, fastavro.read.SchemaResolutionError) as exc:
            raise SerdeError(
                f"cannot read {writer.name} v{writer.version} as {reader.name} v{reader.version}: {exc}"
            ) from exc

    def writer_of(self, data: bytes) -> SchemaVersion:
        if len(data) < HEADER_LEN or data[:2] != MAGIC:
            raise SerdeError("not an Avro single-object encoded value (missing C3 01 marker)")
        return self.registry.by_fingerprint(bytes(data[2:HEADER_LEN]))

    def _version(self, name: str, version: int) -> SchemaVersion:
        for v in self.registry.versions.get(name, []):
            if v.version == version:
                return v
        raise SerdeError(f"no version {version} of schema {name!r}")
