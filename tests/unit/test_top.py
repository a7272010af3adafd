"""`headwater top`'s rows from two scans of the jobs' Prometheus endpoints (cli/top.py, pure)."""

from __future__ import annotations

from cli.top import JOB, OFFSET, job_rows
from common.prometheus import OPERATOR, Sample


def sample(name, value, **labels):
    return Sample(name, {"job_id": "j1", "job_name": "headwater_action_streaming", **labels}, value)


def scan(offset_p0, offset_p1, sent, **gauges):
    samples = [
        sample(OFFSET, offset_p0, topic="hw_unified_actions", partition="0"),
        sample(OFFSET, offset_p1, topic="hw_unified_actions", partition="1"),
        sample(OFFSET, -915, topic="hw_other", partition="0"),  # not assigned yet: no lag, no rate
        sample(OPERATOR + "numRecordsSend", sent, operator_name="sink_writer"),
    ]
    samples += [sample(name, value) for name, value in gauges.items()]
    return samples


def test_rates_lag_checkpoint_and_freshness_of_one_job():
    before = scan(100, 200, 1_000)
    after = scan(
        300,
        260,
        1_520,
        **{
            JOB + "runningTime": 5_000,
            JOB + "restartingTime": 0,
            JOB + "numRestarts": 2,
            JOB + "lastCheckpointCompletedTimestamp": 1_000_000 - 3_000,
            JOB + "lastCheckpointFullSize": 2048,
            "flink_taskmanager_job_task_backPressuredTimeMsPerSecond": 250,
            OPERATOR + "freshness_p50_ms": 1_200,
            OPERATOR + "freshness_p99_ms": 4_800,
        },
    )
    ends = {("hw_unified_actions", 0): 350, ("hw_unified_actions", 1): 260}
    [row] = job_rows(before, after, 2.0, ends, now_ms=1_000_000)
    assert (row.job, row.state, row.restarts) == ("action-streaming", "RUNNING", 2)
    assert (row.in_per_s, row.out_per_s) == (130.0, 260.0)
    assert row.lag == {"hw_unified_actions": 50}
    assert (row.checkpoint_age_s, row.checkpoint_bytes) == (3.0, 2048)
    assert row.backpressure_pct == 25.0 and row.freshness_ms == (1_200, 4_800)


def test_a_restarting_job_says_so_and_a_first_scan_has_no_rates():
    after = scan(10, 10, 0, **{JOB + "runningTime": 0, JOB + "restartingTime": 700})
    [row] = job_rows([], after, 2.0, {}, now_ms=0)
    assert row.state == "RESTARTING" and (row.in_per_s, row.out_per_s) == (0.0, 0.0)
    assert row.checkpoint_age_s is None and row.freshness_ms is None and row.lag == {}
