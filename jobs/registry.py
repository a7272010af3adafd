"""Which jobs exist and where their wiring lives. `headwater run/submit` look jobs up here."""

from __future__ import annotations

import importlib

# name -> module with `NAME` and `build(env, settings)`
JOBS: dict[str, str] = {
    "skeleton": "jobs.skeleton.job",
    "api-unification": "jobs.api_unification.job",
    "action-streaming": "jobs.action_streaming.job",
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
    """Run a job on the embedded MiniCluster; blocks until it ends unless `detached`."""
    from common.flink.environment import job_environment

    module = job_module(name)
    env = job_environment(settings, name, parallelism=parallelism, restore_from=restore_from)
    module.build(env, settings)
    job_name = f"headwater-{name}"
    return env.execute_async(job_name) if detached else env.execute(job_name)
