"""Application-mode entry point: `python jobs/application.py JOB` inside a Flink application cluster
(the Flink Kubernetes operator's FlinkDeployment, infra/k8s.py: PythonDriver runs this file).

The cluster is already there and the operator decides where the job restores from (last-state: its
newest checkpoint), so this only builds the job's graph with the same settings as `headwater run` and
`submit` (common/flink/environment.py) and executes it.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by PythonDriver: the repository root is the import root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> None:
    from common import config
    from common.flink.environment import application_environment
    from jobs import registry

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit(f"usage: application.py JOB  (JOB: one of {', '.join(sorted(registry.JOBS))})")
    name = args[0]
    module = registry.job_module(name)
    settings = config.load()
    env = application_environment(settings, name)
    module.build(env, settings)
    env.execute(f"headwater-{name}")


if __name__ == "__main__":
    main()
