"""Run a job until it is told to stop, then stop it with a savepoint: how `headwater run` ends.

A savepoint is what a replay after a bad deploy starts from (`headwater run JOB --from-savepoint PATH`).
Stopping with one (rather than cancelling) also ends the Kafka transactions cleanly: everything the
job emitted up to the savepoint is committed, nothing after it.

PyFlink's `JobClient.stop_with_savepoint` does not reach the Java method (docs/flink-notes.md), so the Java
client's three-argument `stopWithSavepoint` is called directly.
"""

from __future__ import annotations

import signal
import time

from common.errors import HeadwaterError
from common.log import get_logger

log = get_logger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SavepointError(HeadwaterError, RuntimeError):
    """The job could not be stopped with a savepoint (it was cancelled instead)."""


def stop_with_savepoint(job_client, directory: str) -> str:
    """Stop the job, writing a canonical savepoint under `directory`; return the savepoint's path."""
    from pyflink.java_gateway import get_gateway

    canonical = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType.CANONICAL
    return job_client._j_job_client.stopWithSavepoint(False, directory, canonical).get()


def run_until_stopped(job_client, savepoint_directory: str, *, poll_s: float = 0.5, name: str = "") -> str | None:
    """Wait for the job; on SIGINT/SIGTERM stop it with a savepoint and return its path. Meanwhile,
    each failure that makes it restart is logged with its cause (common/flink/restarts.py).

    Returns None if the job ended by itself (a bounded job finishing); raises if it failed.
    A second signal while the savepoint is being taken falls through to the default handler."""
    from common.flink.restarts import RestartReporter

    requested: list[int] = []
    restarts = RestartReporter(job_client, name or str(job_client.get_job_id()))

    def request_stop(signum, _frame):
        requested.append(signum)
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)

    previous = {sig: signal.signal(sig, request_stop) for sig in STOP_SIGNALS}
    try:
        while not requested:
            status = job_client.get_job_status().result()
            if status.is_globally_terminal_state():
                job_client.get_job_execution_result().result()  # raises the failure, if any
                return None
            restarts.check()
            time.sleep(poll_s)
        log.warning(f"stopping job {job_client.get_job_id()} with a savepoint in {savepoint_directory} ...")
        try:
            path = stop_with_savepoint(job_client, savepoint_directory)
        except Exception as exc:  # e.g. the job is restarting: no savepoint can be taken now
            job_client.cancel().result()
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SavepointError(
                f"no savepoint taken ({first_line}); the job was cancelled, and its last "
                f"retained checkpoint is the place to resume from"
            ) from exc
        log.info(f"savepoint: {path}")
        return path
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
