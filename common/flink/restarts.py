"""Say why a job on the embedded MiniCluster restarts, each time it does (`headwater run`).

Flink restarts a failing job for ever (flink-conf: exponential-delay, 1 s to 30 s), and the
MiniCluster's own log is the only place that says why. A job that cannot work (a Kafka login its Java
clients are refused, a source that cannot reach its broker) then looked like a job that runs and
produces nothing. The job's exception history is on the MiniCluster's REST API, as on a cluster: each
new entry is logged once, as a warning with its root cause, and the job goes on restarting (a transient
failure, such as a broker restart, must not stop it).
"""

from __future__ import annotations

import time

from common.log import get_logger

log = get_logger(__name__)

CHECK_EVERY_S = 2.0


def minicluster_rest(job_client) -> str | None:
    """The REST address of the MiniCluster running `job_client`'s job; None when it cannot be found
    (PyFlink keeps it in a private field of the Java job client)."""
    try:
        j_client = job_client._j_job_client
        field = j_client.getClass().getDeclaredField("miniCluster")
        field.setAccessible(True)
        return str(field.get(j_client).getRestAddress().get().toString()).rstrip("/")
    except Exception:  # noqa: BLE001 - another client class or PyFlink version: no reports, the job runs on
        return None


class RestartReporter:
    """Logs each failure of the job (each made it restart) with its root cause."""

    def __init__(self, job_client, job_name: str, flink=None):
        from common.flink.cluster import FlinkCluster

        rest = None if flink is not None else minicluster_rest(job_client)
        self.flink = flink if flink is not None else (FlinkCluster(rest) if rest else None)
        self.job_id, self.job_name = str(job_client.get_job_id()), job_name
        self.seen, self.next_check = 0, 0.0

    def check(self) -> None:
        if self.flink is None or time.monotonic() < self.next_check:
            return
        self.next_check = time.monotonic() + CHECK_EVERY_S
        try:
            failures = self.flink.failures(self.job_id)
            if failures > self.seen:
                cause = self.flink.failure(self.job_id) or "no cause recorded"
                self.seen = failures
                log.warning(
                    f"{self.job_name} failed and restarts (failure {failures} since it started): {cause}; "
                    f"Flink retries with a growing delay (up to 30 s) until stopped"
                )
        except Exception as exc:  # noqa: BLE001 - the report is a courtesy; the job's own state decides
            log.debug(f"restart report skipped: {exc}")
