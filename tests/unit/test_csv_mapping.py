import pytest

from common.csv_import.mapping import Converter, MappingError, RowError, parse_mapping

ATTRS = {
    "kind": "attributes",
    "identifiers": {"customer_id": "id", "email": "email"},
    "timestamp_column": "ts",
    "attributes": {
        "plan": "plan",
        "age": {"column": "age", "type": "number"},
        "vip": {"column": "vip", "type": "boolean"},
        "tags": {"column": "tags", "type": "list"},
    },
}
EVENT = {
    "kind": "event",
    "identifiers": {"customer_id": "id"},
    "timestamp_column": "ts",
    "event": {"name_column": "what", "properties": {"total": {"column": "total", "type": "number"}}},
}


def _row(**cells):
    base = {
        "id": "c1",
        "email": "",
        "plan": "pro",
        "age": "34",
        "vip": "yes",
        "tags": "a; b",
        "ts": "2026-11-01T09:00:00Z",
        "what": "purchased",
        "total": "9.5",
    }
    base.update(cells)
    return base


def test_attribute_row_becomes_identify():
    record = Converter(parse_mapping(ATTRS), "acme", "f.csv", "wk_test").row(_row(), 2)
    assert record == {
        "tenant": "acme",
        "write_key": "wk_test",
        "import": {"file": "f.csv", "line": 2},
        "message_id": "csv:f.csv:2",
        "customer_id": "c1",
        "timestamp": "2026-11-01T09:00:00Z",
        "type": "identify",
        "attributes": {"plan": "pro", "age": 34, "vip": True, "tags": ["a", "b"]},
    }


def test_event_row_becomes_track_with_epoch_timestamp():
    record = Converter(parse_mapping(EVENT), "acme", "f.csv", "wk_test").row(_row(ts="1793527200000"), 3)
    assert (record["type"], record["event"], record["properties"], record["timestamp"]) == (
        "track",
        "purchased",
        {"total": 9.5},
        1793527200000,
    )


def test_empty_cells_are_skipped_or_unset():
    conv = Converter(parse_mapping(ATTRS), "acme", "f.csv", "wk_test")
    assert "age" not in conv.row(_row(age=""), 2)["attributes"]
    conv = Converter(parse_mapping({**ATTRS, "empty": "unset"}), "acme", "f.csv", "wk_test")
    assert conv.row(_row(age=""), 2)["attributes"]["age"] is None


@pytest.mark.parametrize(
    "cells,message",
    [
        ({"id": "", "email": ""}, "no identifier"),
        ({"age": "forty"}, "'forty' is not a number"),
        ({"vip": "maybe"}, "not a boolean"),
        ({"ts": ""}, "'ts' is empty"),
    ],
)
def test_rows_the_mapping_cannot_convert(cells, message):
    with pytest.raises(RowError, match=message):
        Converter(parse_mapping(ATTRS), "acme", "f.csv", "wk_test").row(_row(**cells), 2)


@pytest.mark.parametrize(
    "doc,message",
    [
        ({**ATTRS, "kind": "nope"}, "kind: Input should be 'attributes' or 'event'"),
        ({**ATTRS, "identifiers": {"passport": "p"}}, "identifiers must map some of"),
        ({**EVENT, "event": {"name": "x", "name_column": "y"}}, "exactly one of name or name_column"),
        ({**ATTRS, "attributes": {}}, "needs an attributes section"),
        (None, "kind: Field required"),
    ],
)
def test_mapping_errors_are_one_readable_line(doc, message):
    with pytest.raises(MappingError, match=message):
        parse_mapping(doc)


def test_header_must_hold_every_mapped_column():
    with pytest.raises(MappingError, match="columns age, tags are in the mapping but not in the CSV header"):
        Converter(parse_mapping(ATTRS), "acme", "f.csv", "wk_test").check_header(["id", "email", "plan", "vip", "ts"])
