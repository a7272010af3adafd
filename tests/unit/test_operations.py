"""Operating jobs on a cluster: the errors a user can fix are one line naming the fix, and the rules
that decide what a cluster's answers mean. (The operations themselves run against the real local
cluster in tests/integration/test_cluster_operations.py.)"""

import socket
import subprocess
import sys

import pytest

from common import config
from common.flink.checkpoints import require_restore_point
from common.flink.cluster import ClusterError, FlinkCluster, JobInfo, root_cause, submission_error
from common.flink.savepoints import SavepointError


def _headwater(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=60, env=env
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_cluster_that_does_not_answer_names_the_fix():
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(ClusterError, match=r"no Flink cluster answers at .*`headwater cluster up`, or pass --cluster"):
        FlinkCluster(url, timeout=2).jobs()
    done = _headwater("jobs", "--cluster", url)
    assert done.returncode == 1
    assert done.stderr.startswith(f"headwater: error: no Flink cluster answers at {url}")
    assert len(done.stderr.strip().splitlines()) == 1


def test_cluster_status_of_a_cluster_that_does_not_answer_says_so_and_exits_3():
    import os

    done = _headwater("cluster", "status", env={**os.environ, "HEADWATER_FLINK": f"http://127.0.0.1:{_closed_port()}"})
    assert done.returncode == 3, done.stderr
    assert "not answering" in done.stdout + done.stderr and "Traceback" not in done.stderr


def test_unknown_job_is_refused_before_anything_starts():
    done = _headwater("submit", "no-such-job", "--cluster", f"http://127.0.0.1:{_closed_port()}")
    assert done.returncode == 1
    assert "no job named 'no-such-job'; jobs: action-streaming, api-unification" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["submit", "skeleton", "--parallelism", "0"],
        ["run", "skeleton", "--parallelism", "-2"],
        ["cluster", "up", "--slots", "x"],
        ["produce", "--source", "sdk", "--generate", "0"],
    ],
)
def test_counts_must_be_positive(args):
    done = _headwater(*args)
    assert done.returncode == 2
    assert "is not a positive whole number" in done.stderr


def test_a_missing_savepoint_is_refused_with_where_to_find_one(tmp_path):
    settings = config.load({"HEADWATER_CHECKPOINTS": (tmp_path / "cp").as_uri(), "HEADWATER_S3_ENDPOINT": ""})
    with pytest.raises(SavepointError, match=r"no savepoint at .*`headwater stop profile-dedupe --savepoint`"):
        require_restore_point(settings, (tmp_path / "nothing").as_uri(), "profile-dedupe")
    found = tmp_path / "sp"
    found.mkdir()
    (found / "_metadata").write_bytes(b"x")
    require_restore_point(settings, found.as_uri(), "profile-dedupe")  # accepted


def test_a_savepoint_of_another_job_is_refused(tmp_path):
    settings = config.load({"HEADWATER_CHECKPOINTS": (tmp_path / "cp").as_uri(), "HEADWATER_S3_ENDPOINT": ""})
    other = f"{settings.checkpoints}/action-streaming/savepoints/savepoint-1"
    with pytest.raises(SavepointError, match="was taken from job action-streaming, not profile-dedupe"):
        require_restore_point(settings, other, "profile-dedupe")
    with pytest.raises(SavepointError, match="use s3://BUCKET/PATH or file:///PATH"):
        require_restore_point(settings, "hdfs://nn/sp", "profile-dedupe")


def test_the_cluster_refusing_a_savepoint_that_does_not_fit_says_so():
    trace = (
        "org.apache.flink.util.FlinkException: Failed to execute job 'headwater-x'.\n"
        "Caused by: java.lang.RuntimeException: JobInitializationException: Could not start the JobMaster.\n"
        "Caused by: java.lang.IllegalStateException: Failed to rollback to checkpoint/savepoint file:/sp. "
        "Cannot map checkpoint/savepoint state for operator 08e9 to the new program, because the operator is "
        "not available in the new program.\n\tat org.apache.flink.Foo(Foo.java:1)"
    )
    error = submission_error("api-unification", "file:///sp", RuntimeError(trace))
    assert str(error).startswith("savepoint file:///sp does not fit api-unification: it holds state of an operator")
    assert root_cause(trace).startswith("java.lang.IllegalStateException: Failed to rollback")
    assert str(submission_error("skeleton", None, RuntimeError("boom"))) == "the cluster refused skeleton: boom"


def test_jobs_are_known_by_their_headwater_name():
    job = JobInfo("0" * 32, "headwater-profile-dedupe", "RUNNING", 0, 3, 3)
    assert job.headwater_job == "profile-dedupe" and job.active
    assert not JobInfo("1" * 32, "headwater-skeleton", "CANCELED", 0, 0, 1).active


def test_a_job_is_fully_running_only_when_all_its_tasks_run():
    assert JobInfo("0" * 32, "headwater-x", "RUNNING", 0, 3, 3).fully_running
    assert not JobInfo("0" * 32, "headwater-x", "RUNNING", 0, 2, 3).fully_running  # restoring, or a task lost
    assert not JobInfo("0" * 32, "headwater-x", "RESTARTING", 0, 3, 3).fully_running


def test_submitting_to_a_local_cluster_started_with_other_code_names_the_restart(tmp_path, monkeypatch):
    from cli.operations import refuse_stale_local_cluster
    from infra.stack import flink_cluster

    settings = config.load({"HEADWATER_DATA_DIR": str(tmp_path)})
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "flink-cluster-code.json").write_text('"digest-of-older-code"')
    monkeypatch.setattr(flink_cluster, "processes", lambda s: [("flink-taskmanager-1", 4242, tmp_path / "tm.log")])
    with pytest.raises(ClusterError, match=r"other job code.*`headwater cluster down && headwater cluster up`"):
        refuse_stale_local_cluster(settings, settings.flink_rest + "/")
    refuse_stale_local_cluster(settings, "http://127.0.0.1:28081")  # another cluster: its code is not ours to know
    (tmp_path / "run" / "flink-cluster-code.json").write_text(f'"{flink_cluster.code_digest()}"')
    refuse_stale_local_cluster(settings, settings.flink_rest)  # started with this code: fine


def test_a_refused_savepoint_names_the_retired_operator_and_its_state():
    """Flink names the operator by id, the MurmurHash3 of its uid (checked against a 0.1 savepoint's
    _metadata, which holds those bytes): a retired uid that hashes to it is named, with its state."""
    from common.flink.retired_uids import operator_id

    fixture = (config.REPO_ROOT / "tests" / "fixtures" / "savepoints" / "reaction-streaming" / "_metadata").read_bytes()
    assert bytes.fromhex(operator_id("reaction-streaming-apply-deltas")) in fixture
    trace = (
        "Caused by: java.lang.IllegalStateException: Failed to rollback to checkpoint/savepoint file:/sp. "
        f"Cannot map checkpoint/savepoint state for operator {operator_id('reaction-streaming-apply-deltas')} "
        "to the new program, because the operator is not available in the new program."
    )
    line = str(submission_error("reaction-streaming", "file:///sp", RuntimeError(trace)))
    named = "state of operator reaction-streaming-apply-deltas of reaction-streaming (state pending), retired: 0.2"
    assert named in line
    unknown = trace.replace(operator_id("reaction-streaming-apply-deltas"), "0" * 32)
    line = str(submission_error("reaction-streaming", "file:///sp", RuntimeError(unknown)))
    assert f"state of operator {'0' * 32}, which is not one of this version's" in line


def test_a_savepoint_taken_with_another_bucket_or_shard_count_names_the_count():
    """Operators laid out for a count (common/flink/uids.SIZED) name it in their uid; a savepoint taken
    with another count is refused naming the setting and the count to run with."""
    from common.flink.retired_uids import operator_id
    from common.flink.uids import SIZED
    from jobs.profile_dedupe.buckets import batches_uid, decide_uid
    from jobs.reaction_streaming.job import apply_uid

    for uid in (decide_uid("profile-dedupe", 32), batches_uid("profile-dedupe", 32), apply_uid(32)):
        assert any(template.format(32) == uid for template in SIZED), f"{uid} is not in uids.SIZED"
    trace = (
        f"Cannot map checkpoint/savepoint state for operator {operator_id(decide_uid('profile-dedupe', 32))} "
        "to the new program, because the operator is not available in the new program."
    )
    line = str(submission_error("profile-dedupe", "file:///sp", RuntimeError(trace)))
    assert "operator profile-dedupe-decide-32-buckets, laid out for HEADWATER_DEDUPE_BUCKETS=32" in line
