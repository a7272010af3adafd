"""Where `run`/`submit` start without --from-savepoint (common/flink/restore.py): the newest checkpoint or
savepoint after the last --reset, empty only on a first start, never empty over committed offsets.
(The real-stack proof is tests/integration/test_restart_without_savepoint.py.)"""

import os
import time

import pytest

from cli.main import _parser
from common import config
from common.flink.checkpoints import mark_reset, restore_points
from common.flink.kafka import client_name
from common.flink.restore import NoRestorePoint, choose_start


def _settings(tmp_path, prefix="hw."):
    return config.load(
        {
            "HEADWATER_CHECKPOINTS": (tmp_path / "cp").as_uri(),
            "HEADWATER_S3_ENDPOINT": "",
            "HEADWATER_TOPIC_PREFIX": prefix,
        }
    )


def _write(path, at: float):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    os.utime(path, (at, at))


def test_the_newest_point_wins_whether_checkpoint_or_savepoint_and_a_reset_hides_older_ones(tmp_path):
    settings = _settings(tmp_path)
    job = tmp_path / "cp" / "action-streaming"
    now = time.time()
    _write(job / "aaaa" / "chk-7" / "_metadata", now - 300)
    _write(job / "savepoints" / "savepoint-aaaaaa-123" / "_metadata", now - 200)  # stopped with a savepoint
    _write(job / "bbbb" / "chk-2" / "_metadata", now - 100)  # then run again: a new job id, numbers from 1
    _write(job / "bbbb" / "shared" / "sst-1", now - 50)  # state files are not restore points
    _write(tmp_path / "cp" / "profile-dedupe" / "cccc" / "chk-9" / "_metadata", now)  # another job's
    points = [location for _, location in restore_points(settings, "action-streaming")]
    assert points == [
        f"file://{job}/aaaa/chk-7",
        f"file://{job}/savepoints/savepoint-aaaaaa-123",
        f"file://{job}/bbbb/chk-2",
    ]
    mark_reset(settings, "action-streaming")
    assert restore_points(settings, "action-streaming") == []
    _write(job / "dddd" / "chk-1" / "_metadata", time.time() + 5)  # the reset run's first checkpoint
    assert [loc for _, loc in restore_points(settings, "action-streaming")] == [f"file://{job}/dddd/chk-1"]


def test_empty_state_only_on_a_first_start():
    points = [(1.0, "s3://b/cp/x/j1/chk-3"), (2.0, "s3://b/cp/x/savepoints/savepoint-1")]
    assert choose_start("x", points, {"headwater-x": 4}, "s3://b/cp/x") == "s3://b/cp/x/savepoints/savepoint-1"
    assert choose_start("x", [], {}, "s3://b/cp/x") is None
    with pytest.raises(NoRestorePoint, match=r"headwater-x \(4 partitions\).*--from-savepoint PATH.*--reset"):
        choose_start("x", [], {"headwater-x": 4}, "s3://b/cp/x")


def test_client_names_carry_a_prefix_other_than_the_default(tmp_path):
    assert client_name(_settings(tmp_path), "profile-dedupe", "config") == "headwater-profile-dedupe-config"
    assert client_name(_settings(tmp_path, "blue."), "action-streaming") == "blue.headwater-action-streaming"


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1796000000000", 1_796_000_000_000),
        ("2026-11-30T08:00:00Z", 1_796_025_600_000),
        ("2026-11-30T08:00:00", 1_796_025_600_000),
        ("2026-11-30T09:00:00+01:00", 1_796_025_600_000),
    ],
)
def test_reset_to_reads_iso_times_and_epoch_milliseconds(text, ms):
    assert _parser().parse_args(["run", "skeleton", "--reset", "--reset-to", text]).reset_to == ms


def test_a_time_that_is_not_one_and_contradictory_options_are_refused(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["run", "skeleton", "--reset", "--reset-to", "yesterday"])
    assert "is not a time: give ISO 8601" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parser().parse_args(["submit", "skeleton", "--reset", "--from-savepoint", "s3://b/x"])
    assert "not allowed with argument" in capsys.readouterr().err
