"""Which jobs exist and where their wiring lives. `headwater run/submit` look jobs up here."""

from __future__ import annotations

import importlib

# name -> module with `NAME` and `build(env, settings)`
JOBS: dict[str, str] = {
    "skeleton": "jobs.skeleton.job",
    "api-unification": "jobs.api_unification.job",
    "action-streaming": "jobs.action_streaming.job",
    "reaction-streaming": "jobs.reaction_streaming.job",
    "profile-dedupe": "jobs.profile_dedupe.job",
}


class UnknownJob(KeyError):
    def __str__(self) -> str:
        return f"no job named {self.args[0]!r}; jobs: {', '.join(sorted(JOBS))}"


def job_module(name: str):
    if name not in JOBS:
        raise UnknownJob(name)
    return importlib.import_module(JOBS[name])


def run(name: str, settings, *, parallelism: int | None = None, restore_from: str | None = None,
        detached: bool = False):
    """Run a job on the embedded MiniCluster. Detached, return its JobClient; else block until it ends
    or SIGINT/SIGTERM stops it with a savepoint, and return the savepoint's path."""
    from common.flink.environment import job_environment
    from common.flink.savepoints import run_until_stopped
    from common.flink.settings import savepoint_dir

    module = job_module(name)
    env = job_environment(settings, name, parallelism=parallelism, restore_from=restore_from)
    module.build(env, settings)
    client = env.execute_async(f"headwater-{name}")
    return client if detached else run_until_stopped(client, savepoint_dir(settings, name))
