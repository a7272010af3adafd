"""CSV rows -> api-format records for `hw.ingest.csv`, driven by a mapping file.

Mapping (YAML):
    kind: attributes            # or: event
    identifiers:                # identifier field -> CSV column (at least one)
      customer_id: id
      email: email
    timestamp_column: updated_at   # required: ISO-8601 or epoch ms in each row (keeps imports replayable)
    attributes:                 # kind attributes: attribute -> column, or {column, type}
      plan: plan
      age: {column: age, type: number}
    event:                      # kind event
      name: purchased           # a fixed name, or name_column: COLUMN
      properties:
        total: {column: total, type: number}
Types: string (default), number, boolean (true/false/yes/no/1/0), list (split on ";").
An empty cell is left out (an attribute is not touched), unless the mapping says `empty: unset`.
The job validates the records like `api` ones; rows the mapping cannot convert are refused here,
with their line number, and not sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from common.errors import HeadwaterError

IDENTIFIERS = ("customer_id", "email", "phone", "anonymous_id", "device_id")


class MappingError(HeadwaterError, ValueError):
    pass


class RowError(ValueError):
    pass


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    column: str
    type: Literal["string", "number", "boolean", "list"] = "string"


def _columns(raw: dict | None) -> dict[str, Column]:
    return {
        name: Column(column=spec) if isinstance(spec, str) else Column(**spec) for name, spec in (raw or {}).items()
    }


class EventMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str | None = None
    name_column: str | None = None
    properties: dict = Field(default_factory=dict)

    @model_validator(mode="after")
    def one_name(self):
        if (self.name is None) == (self.name_column is None):
            raise ValueError("event needs exactly one of name or name_column")
        return self


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["attributes", "event"]
    identifiers: dict[str, str]
    timestamp_column: str
    attributes: dict = Field(default_factory=dict)
    event: EventMapping | None = None
    empty: Literal["skip", "unset"] = "skip"

    @model_validator(mode="after")
    def consistent(self):
        unknown = set(self.identifiers) - set(IDENTIFIERS)
        if unknown or not self.identifiers:
            raise ValueError(f"identifiers must map some of {', '.join(IDENTIFIERS)} to columns")
        if self.kind == "attributes" and not self.attributes:
            raise ValueError("kind attributes needs an attributes section")
        if self.kind == "event" and self.event is None:
            raise ValueError("kind event needs an event section")
        _columns(self.attributes)
        _columns(self.event.properties if self.event else None)
        return self

    def columns(self) -> set[str]:
        cols = set(self.identifiers.values()) | {self.timestamp_column}
        cols |= {c.column for c in _columns(self.attributes).values()}
        if self.event:
            cols |= {c.column for c in _columns(self.event.properties).values()}
            if self.event.name_column:
                cols.add(self.event.name_column)
        return cols


def parse_mapping(document: object) -> Mapping:
    try:
        return Mapping(**(document or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise MappingError(f"{where + ': ' if where else ''}{first['msg'].removeprefix('Value error, ')}") from None
    except TypeError as exc:
        raise MappingError(f"not a mapping: {exc}") from None


def _convert(text: str, column: Column):
    if column.type == "string":
        return text
    if column.type == "number":
        try:
            number = float(text)
        except ValueError:
            raise RowError(f"column {column.column!r}: {text[:40]!r} is not a number") from None
        return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
    if column.type == "boolean":
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise RowError(f"column {column.column!r}: {text[:40]!r} is not a boolean")
    return [item.strip() for item in text.split(";") if item.strip()]


@dataclass
class Converter:
    mapping: Mapping
    tenant: str
    file_name: str
    write_key: str

    def check_header(self, header: list[str]) -> None:
        missing = sorted(self.mapping.columns() - set(header))
        if missing:
            raise MappingError(f"columns {', '.join(missing)} are in the mapping but not in the CSV header")

    def row(self, row: dict[str, str], line: int) -> dict:
        record: dict = {
            "tenant": self.tenant,
            "write_key": self.write_key,
            "import": {"file": self.file_name, "line": line},
            "message_id": f"csv:{self.file_name}:{line}",
        }
        for field, column in self.mapping.identifiers.items():
            if row.get(column, "").strip():
                record[field] = row[column].strip()
        if not any(f in record for f in IDENTIFIERS):
            raise RowError(f"no identifier: columns {', '.join(self.mapping.identifiers.values())} are all empty")
        timestamp = row.get(self.mapping.timestamp_column, "").strip()
        if not timestamp:
            raise RowError(f"column {self.mapping.timestamp_column!r} is empty")
        record["timestamp"] = int(timestamp) if timestamp.isdigit() else timestamp
        if self.mapping.kind == "attributes":
            record["type"] = "identify"
            record["attributes"] = self._values(_columns(self.mapping.attributes), row)
        else:
            event = self.mapping.event
            name = event.name or row.get(event.name_column, "").strip()
            if not name:
                raise RowError(f"column {event.name_column!r} (event name) is empty")
            record.update(type="track", event=name, properties=self._values(_columns(event.properties), row))
        return record

    def key(self, record: dict) -> bytes:
        """Kafka key: the row's first mapped identifier, so one user's rows stay on one partition, in order."""
        field = next(f for f in IDENTIFIERS if f in record)
        return f"{self.tenant}:{field}:{record[field]}".encode()

    def _values(self, columns: dict[str, Column], row: dict[str, str]) -> dict:
        values = {}
        for name, column in columns.items():
            text = row.get(column.column, "")
            if text == "":
                if self.mapping.empty == "unset":
                    values[name] = None
                continue
            values[name] = _convert(text, column)
        return values
