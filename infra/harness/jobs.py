"""Run a Headwater job as a user would (`headwater run JOB`), in its own process group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


class RunningJob:
    def __init__(self, job: str, env: dict[str, str], log: Path, *args: str):
        self.log = log
        self._log_file = open(log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "run", job, *args],
            env={**os.environ, **env}, stdout=self._log_file, stderr=subprocess.STDOUT,
            start_new_session=True,  # the job's JVM is a child: kill the whole group
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=60)
        self._log_file.close()
