"""The demo's copies of the sample files: event times moved up to now, everything else as it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from common import config
from harness import recent_examples

EXAMPLES = config.REPO_ROOT / "examples"


def test_the_newest_sample_becomes_a_minute_old_and_the_rest_keeps_its_spacing(tmp_path):
    now = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    shift = recent_examples.shift_for(EXAMPLES / "api.jsonl", now)
    api = recent_examples.shifted_jsonl(EXAMPLES / "api.jsonl", tmp_path / "api.jsonl", shift)
    before = list(recent_examples._jsonl_times(EXAMPLES / "api.jsonl"))
    after = list(recent_examples._jsonl_times(api))
    assert max(after) == now - timedelta(minutes=1)
    assert [b + shift for b in before] == after


def test_bad_lines_stay_bad_and_only_their_times_move(tmp_path):
    shift = timedelta(days=40)
    copy = recent_examples.shifted_jsonl(EXAMPLES / "bad.jsonl", tmp_path / "bad.jsonl", shift)
    original, moved = (EXAMPLES / "bad.jsonl").read_text().splitlines(), copy.read_text().splitlines()
    assert len(original) == len(moved)
    for old, new in zip(original, moved):
        assert recent_examples._TIME.sub("", old) == recent_examples._TIME.sub("", new)


def test_csv_rows_keep_their_cells_and_an_empty_time_stays_empty(tmp_path):
    shift = timedelta(days=40)
    copy = recent_examples.shifted_csv(EXAMPLES / "customers.csv", tmp_path / "customers.csv", shift)
    original, moved = (EXAMPLES / "customers.csv").read_text().splitlines(), copy.read_text().splitlines()
    assert original[0] == moved[0] and len(original) == len(moved)
    for old, new in zip(original[1:], moved[1:]):
        old_cells, new_cells = old.split(","), new.split(",")
        assert old_cells[:-1] == new_cells[:-1]
        if old_cells[-1]:
            assert datetime.fromisoformat(new_cells[-1]) == datetime.fromisoformat(old_cells[-1]) + shift
        else:
            assert new_cells[-1] == ""
