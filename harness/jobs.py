"""Run a Headwater job as a user would: `headwater run JOB` in its own process group (RunningJob), or
`headwater submit JOB` to a Flink cluster (SubmittedJob)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


class RunningJob:
    def __init__(self, job: str, env: dict[str, str], log: Path, *args: str):
        self.log = log
        self._log_file = open(log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "run", job, *args],
            env={**os.environ, **env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
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
            raise RuntimeError(f"`headwater run` exited {code} without a savepoint; {log_tail(self.log)}")
        return lines[-1].removeprefix("savepoint: ").strip()


class SubmittedJob:
    """A job submitted to a Flink cluster as a user would (`headwater submit JOB`), with the same
    methods as RunningJob so a test or the demo can drive either."""

    def __init__(self, job: str, env: dict[str, str], log: Path, *args: str):
        from common import config
        from common.flink.cluster import FlinkCluster

        self.job, self.log = job, log
        self.settings = config.load({**os.environ, **env})
        cluster = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--cluster"), self.settings.flink_rest)
        self.flink = FlinkCluster(cluster)
        started = time.monotonic()
        with open(log, "ab") as out:
            done = subprocess.run(
                [sys.executable, "-m", "cli.main", "submit", job, *args],
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=300,
            )
        self.submit_s = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(f"`headwater submit {job}` exited {done.returncode}; {log_tail(log)}")
        self.job_id = self.flink.active_job(job).job_id

    def alive(self) -> bool:
        return self.flink.job(self.job_id).state == "RUNNING"

    def stop_with_savepoint(self, timeout: float = 180) -> str:
        from common.flink.settings import savepoint_dir

        return self.flink.stop_with_savepoint(self.job_id, savepoint_dir(self.settings, self.job), timeout=timeout)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Cancel the job if it still runs (the cluster's processes stay up)."""
        if self.flink.job(self.job_id).active:
            self.flink.cancel(self.job_id)


def log_tail(log: Path, lines: int = 15) -> str:
    """The end of a command's log, for a failure message: CI keeps the test output, not tmp files."""
    text = log.read_text(errors="replace").splitlines() if log.exists() else []
    return f"the end of {log}:\n" + "\n".join(text[-lines:])


def headwater(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen:
    """`headwater ARGS` in the background with `env` added, output appended to `log`."""
    out = open(log, "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
    )


def run_headwater(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`headwater ARGS` with `env` added, to its end; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def headwater_ok(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`run_headwater`, failing the test with the command's output unless it exits 0."""
    done = run_headwater(env, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done
