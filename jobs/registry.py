"""Which jobs exist and where their wiring lives. `headwater run/submit` look jobs up here."""

from __future__ import annotations

import importlib

from common.errors import HeadwaterError
from common.log import get_logger

log = get_logger(__name__)

# name -> module with `NAME` and `build(env, settings)`
JOBS: dict[str, str] = {
    "skeleton": "jobs.skeleton.job",
    "api-unification": "jobs.api_unification.job",
    "action-streaming": "jobs.action_streaming.job",
    "reaction-streaming": "jobs.reaction_streaming.job",
    "profile-dedupe": "jobs.profile_dedupe.job",
    "audience-computation": "jobs.audience_computation.job",
}


# Jobs `headwater k8s render` leaves out: the walking skeleton.
NOT_DEPLOYED = ("skeleton",)


class UnknownJob(HeadwaterError, KeyError):
    def __str__(self) -> str:
        return f"no job named {self.args[0]!r}; jobs: {', '.join(sorted(JOBS))}"


def job_module(name: str):
    if name not in JOBS:
        raise UnknownJob(name)
    return importlib.import_module(JOBS[name])


def run(
    name: str, settings, *, parallelism: int | None = None, restore_from: str | None = None, detached: bool = False
):
    """Run a job on the embedded MiniCluster. Detached, return its JobClient; else block until it ends
    or SIGINT/SIGTERM stops it with a savepoint, and return the savepoint's path."""
    from common.flink.cluster import RESTORE_REFUSED, submission_error
    from common.flink.environment import job_environment
    from common.flink.savepoints import run_until_stopped
    from common.flink.settings import savepoint_dir

    module = job_module(name)
    env = job_environment(settings, name, parallelism=parallelism, restore_from=restore_from)
    module.build(env, settings)
    try:
        client = env.execute_async(f"headwater-{name}")
        return client if detached else run_until_stopped(client, savepoint_dir(settings, name), name=name)
    except HeadwaterError:
        raise
    except Exception as exc:  # a Py4J error carrying Flink's reason
        if restore_from and RESTORE_REFUSED in str(exc):
            raise submission_error(name, restore_from, exc) from None  # one line, not a stack trace
        raise


def refuse_second_copy(flink, name: str, cluster: str) -> None:
    """Two copies of a job would share transactional ids and consumer groups and fence each other."""
    from common.flink.cluster import ClusterError

    flink.overview()  # a cluster that does not answer fails here, before a JVM starts
    running = flink.find_active(name)
    if running is not None:
        raise ClusterError(
            f"{name} already runs on {cluster} as job {running.job_id} ({running.state}): stop it "
            f"first (`headwater stop {name} --savepoint`), or replay it (`headwater replay {name} "
            f"--from-savepoint PATH`)"
        )


def submit(
    name: str, settings, *, cluster: str, parallelism: int | None = None, restore_from: str | None = None, say=log.info
):
    """Submit a job to the Flink cluster at `cluster` (REST address) and wait until all its tasks run.

    Refuses a second copy of a job that already runs there: two copies would share transactional ids
    and consumer groups and fence each other. Returns the running job's JobInfo."""
    import time

    from common.flink.checkpoints import require_restore_point
    from common.flink.cluster import FlinkCluster, submission_error
    from common.flink.environment import job_environment

    module = job_module(name)
    flink = FlinkCluster(cluster)
    refuse_second_copy(flink, name, cluster)
    if restore_from:
        require_restore_point(settings, restore_from, name)
    started = time.monotonic()
    env = job_environment(settings, name, parallelism=parallelism, restore_from=restore_from, cluster=cluster)
    module.build(env, settings)
    try:
        job_id = str(env.execute_async(f"headwater-{name}").get_job_id())
    except Exception as exc:  # noqa: BLE001 - a Py4J error carrying the cluster's reason
        raise submission_error(name, restore_from, exc) from None
    submitted = time.monotonic()
    say(
        f"submitted {name} as job {job_id} to {cluster} in {submitted - started:.1f} s"
        + (f", restoring {restore_from}" if restore_from else "")
    )
    job = flink.wait_until_running(job_id)
    say(f"{name} running: {job.tasks_running} tasks in {time.monotonic() - submitted:.1f} s")
    return job
