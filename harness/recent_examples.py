"""The sample files of examples/ with their event times moved up to now, for the demo.

The files carry fixed dates (so that they read the same in the docs), and a tenant refuses events older
than `max_past_days` (30) before their arrival: produced as they are, a month after they were written
every sample would be refused. The copies keep the files' order and spacing; the newest event becomes
a minute old. Lines that are not JSON objects (bad.jsonl holds some on purpose) and empty cells are
copied as they are.

"""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

FIELD = "timestamp"  # the event time of api.jsonl and bad.jsonl records
CSV_COLUMN = "updated_at"  # examples/customers.mapping.yaml: timestamp_column
MARGIN = timedelta(minutes=1)
_TIME = re.compile(rf'("{FIELD}"\s*:\s*)"([^"]*)"')


def _parse(text) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None


def _format(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _jsonl_times(path: Path):
    for match in _TIME.finditer(path.read_text()):
        if (moment := _parse(match[2])) is not None:
            yield moment


def shift_for(path: Path, now: datetime) -> timedelta:
    """How far to move the times of the sample files so that the newest event of `path` is a minute old."""
    return now - MARGIN - max(_jsonl_times(path))


def shifted_jsonl(source: Path, target: Path, shift: timedelta) -> Path:
    """The lines are edited as text, not parsed and written again: bad.jsonl's lines must stay as bad."""

    def moved(match: re.Match) -> str:
        moment = _parse(match[2])
        return match[0] if moment is None else f'{match[1]}"{_format(moment + shift)}"'

    target.write_text(_TIME.sub(moved, source.read_text()))
    return target


def shifted_csv(source: Path, target: Path, shift: timedelta) -> Path:
    with open(source, newline="") as rows_in:
        reader = csv.DictReader(rows_in)
        rows = list(reader)
        columns = reader.fieldnames or []
    for row in rows:
        if (moment := _parse(row.get(CSV_COLUMN))) is not None:
            row[CSV_COLUMN] = _format(moment + shift)
    with open(target, "w", newline="") as rows_out:
        writer = csv.DictWriter(rows_out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return target
