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
        if not self._log_file.closed:
            self._log_file.close()

    def stop_with_savepoint(self, timeout: float = 180) -> str:
        """SIGTERM the `headwater run` process, as a user's Ctrl-C would: it stops the job with a
        savepoint and prints `savepoint: PATH`. Returns PATH."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            self.kill()  # whatever is left of the group (the gateway JVM)
        lines = [line for line in self.log.read_text(errors="replace").splitlines() if line.startswith("savepoint: ")]
        if code != 0 or not lines:
            raise RuntimeError(f"`headwater run` exited {code} without a savepoint; see {self.log}")
        return lines[-1].removeprefix("savepoint: ").strip()
