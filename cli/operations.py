"""`headwater cluster|submit|jobs|savepoint|stop|replay`: operating jobs on a Flink cluster.

The cluster is the local standalone one (`headwater cluster up`, REST on HEADWATER_FLINK) unless
`--cluster URL` names another. Jobs are named as in `headwater run` (profile-dedupe, ...); on the
cluster they are called `headwater-<job>`, and at most one copy of each runs at a time.
See docs/operations.md.
"""

from __future__ import annotations

import time

from common.config import Settings
from common.flink.cluster import ClusterError, FlinkCluster, JobInfo
from common.flink.settings import savepoint_dir
from common.log import get_logger

log = get_logger(__name__)


def cluster_up(settings: Settings, taskmanagers: int, slots: int, memory: str, bind: str | None = None) -> None:
    from infra.stack import flink_cluster

    started = time.monotonic()
    address = flink_cluster.bind_address(bind) if bind else flink_cluster.LOOPBACK
    size = flink_cluster.ClusterSize(taskmanagers, slots, memory, address)
    log.info(
        f"starting a local Flink cluster: 1 JobManager, {taskmanagers} TaskManager(s) x {slots} slots, "
        f"{memory} each, on {address} (logs under {settings.data_dir / 'logs'})"
    )
    flink_cluster.up(settings, size)
    log.info(f"ready in {time.monotonic() - started:.1f} s; web UI {settings.flink_rest}")


def cluster_down(settings: Settings) -> None:
    from infra.stack import flink_cluster

    if not flink_cluster.down(settings):
        log.info("no local Flink cluster was running")


def cluster_status(settings: Settings) -> int:
    """Print the cluster's processes, its web UI and its jobs; exit 3 if it does not answer."""
    from infra.stack import flink_cluster

    for name, pid, process_log in flink_cluster.processes(settings):
        log.info(f"{name:<20} {'running' if pid else 'stopped':<8} {str(pid or '-'):<8} {process_log}")
    try:
        overview = FlinkCluster(settings.flink_rest, timeout=3).overview()
    except ClusterError as exc:
        log.info(f"web UI    {settings.flink_rest}: not answering ({exc})")
        return 3
    log.info(
        f"web UI    {settings.flink_rest}  (Flink {overview['flink-version']}, {overview['taskmanagers']} "
        f"TaskManager(s), {overview['slots-available']}/{overview['slots-total']} slots free)"
    )
    list_jobs(settings.flink_rest)
    return 0


def list_jobs(cluster: str, show_all: bool = False) -> None:
    flink = FlinkCluster(cluster)
    jobs = [j for j in flink.jobs() if show_all or j.active]
    if not jobs:
        log.info(f"no {'' if show_all else 'running '}jobs on {cluster}")
        return
    log.info(f"{'JOB':<20} {'JOB ID':<33} {'STATE':<11} {'TASKS':<6} {'UP':<8} LAST CHECKPOINT")
    for job in jobs:
        log.info(
            f"{job.headwater_job:<20} {job.job_id:<33} {job.state:<11} {job.tasks_running}/{job.tasks_total:<4} "
            f"{_age(job.start_ms):<8} {_checkpoint_line(flink, job)}"
        )


def _checkpoint_line(flink: FlinkCluster, job: JobInfo) -> str:
    checkpoint = flink.last_checkpoint(job.job_id)
    if checkpoint is None:
        return "-"
    kind = "savepoint" if checkpoint.is_savepoint else f"#{checkpoint.checkpoint_id}"
    return f"{kind} {_age(checkpoint.completed_ms)} ago {checkpoint.path}"


def _age(epoch_ms: int) -> str:
    if epoch_ms <= 0:
        return "-"
    seconds = max(0, int(time.time() - epoch_ms / 1000))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def refuse_stale_local_cluster(settings: Settings, cluster: str) -> None:
    """A TaskManager's embedded Python keeps the modules it imported: a job submitted to a local cluster
    started with other code would run a mix of old and new code."""
    from infra.stack.flink_cluster import stale_code

    if cluster.rstrip("/") == settings.flink_rest and stale_code(settings):
        raise ClusterError(
            "the local cluster's TaskManagers were started with other job code, and keep the "
            "Python modules they imported: restart them (`headwater cluster down && headwater "
            "cluster up`), then submit (running jobs resume from savepoints or checkpoints)"
        )


def where_to_start(settings: Settings, args) -> tuple[str | None, Settings]:
    """`run`/`submit` options → (location to restore or None for empty state, settings for the run).
    Without --from-savepoint: the job's newest checkpoint or savepoint (common/flink/restore.py)."""
    from dataclasses import replace

    from common.flink.restore import ResetRefused, start_point
    from common.kafka.admin import require_topics

    if args.reset_to is not None and not args.reset:
        raise ResetRefused("--reset-to TIME only goes with --reset: a restored job reads from its own offsets")
    require_topics(settings)
    if args.from_savepoint:
        return args.from_savepoint, settings
    chosen = start_point(settings, args.job, reset_state=args.reset, start_from_ms=args.reset_to, say=log.info)
    return chosen, replace(settings, start_from_ms=args.reset_to)


def submit(settings: Settings, args, cluster: str) -> None:
    from jobs import registry

    registry.job_module(args.job)  # fail fast on a wrong name
    refuse_stale_local_cluster(settings, cluster)
    registry.refuse_second_copy(FlinkCluster(cluster), args.job, cluster)  # before --reset touches its groups
    restore_from, settings = where_to_start(settings, args)
    registry.submit(args.job, settings, cluster=cluster, parallelism=args.parallelism, restore_from=restore_from)


def savepoint(settings: Settings, job: str, cluster: str) -> str:
    flink = FlinkCluster(cluster)
    info = flink.active_job(job)
    started = time.monotonic()
    log.info(f"taking a savepoint of {info.headwater_job} ({info.job_id}); it keeps running ...")
    path = flink.savepoint(info.job_id, savepoint_dir(settings, info.headwater_job))
    log.info(f"savepoint: {path}  ({time.monotonic() - started:.1f} s)")
    return path


def stop(settings: Settings, job: str, cluster: str, with_savepoint: bool) -> str | None:
    """Stop with a savepoint (printed as `savepoint: PATH`), or cancel, leaving the last retained checkpoint."""
    flink = FlinkCluster(cluster)
    info = flink.active_job(job)
    started = time.monotonic()
    if with_savepoint:
        log.info(f"stopping {info.headwater_job} ({info.job_id}) with a savepoint ...")
        path = flink.stop_with_savepoint(info.job_id, savepoint_dir(settings, info.headwater_job))
        log.info(f"savepoint: {path}  (stopped in {time.monotonic() - started:.1f} s)")
        return path
    checkpoint = flink.last_checkpoint(info.job_id)
    flink.cancel(info.job_id)
    log.info(
        f"cancelled {info.headwater_job} ({info.job_id}) in {time.monotonic() - started:.1f} s; "
        + (f"its last checkpoint: {checkpoint.path}" if checkpoint else "it had no checkpoint")
    )
    return None


def replay(settings: Settings, job: str, cluster: str, restore_from: str, parallelism: int | None) -> None:
    """Run `job` again from a savepoint: the copy running now (if any) is cancelled and replaced."""
    from common.flink.checkpoints import require_restore_point
    from common.kafka.admin import require_topics
    from jobs import registry

    registry.job_module(job)
    refuse_stale_local_cluster(settings, cluster)
    require_restore_point(settings, restore_from, job)  # before cancelling anything
    require_topics(settings)
    flink = FlinkCluster(cluster)
    running = flink.find_active(job)
    if running is not None:
        log.info(f"cancelling the running {job} ({running.job_id}); the replay takes its place")
        flink.cancel(running.job_id)
    registry.submit(job, settings, cluster=cluster, parallelism=parallelism, restore_from=restore_from)
