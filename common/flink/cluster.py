"""Talk to a Flink cluster through its REST API: list jobs, take savepoints, stop, cancel, wait.

Everything `headwater jobs|savepoint|stop|replay` does to a running job goes through here, over plain
HTTP, so it works the same against the local cluster (`headwater cluster up`) and any Flink 2.x
session cluster whose REST address is given (`--cluster` or HEADWATER_FLINK). No JVM is started.
Jobs are found by the name Headwater gives them (`headwater-<job>`) or by their job id.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from common.errors import HeadwaterError
from common.flink.retired_uids import unmapped_operator

JOB_NAME_PREFIX = "headwater-"
TERMINAL_STATES = {"FINISHED", "CANCELED", "FAILED", "SUSPENDED"}
JOB_ID = re.compile(r"^[0-9a-f]{32}$")


# What Flink says when a savepoint holds state for an operator (uid) the job no longer has.
RESTORE_REFUSED = "Cannot map checkpoint/savepoint state"


class ClusterError(HeadwaterError, RuntimeError):
    """A cluster operation failed; the message is one line that says what to do."""


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    name: str
    state: str
    start_ms: int
    tasks_running: int
    tasks_total: int

    @property
    def headwater_job(self) -> str:
        """`profile-dedupe` for a job named `headwater-profile-dedupe` (the name otherwise)."""
        return self.name.removeprefix(JOB_NAME_PREFIX)

    @property
    def active(self) -> bool:
        return self.state not in TERMINAL_STATES

    @property
    def fully_running(self) -> bool:
        """RUNNING with every task running (state restored, sources reading)."""
        return self.state == "RUNNING" and self.tasks_total > 0 and self.tasks_running == self.tasks_total


@dataclass(frozen=True)
class Checkpoint:
    checkpoint_id: int
    path: str
    completed_ms: int
    is_savepoint: bool
    triggered_ms: int = 0


class FlinkCluster:
    """A Flink cluster at a REST address such as http://127.0.0.1:18081."""

    def __init__(self, rest: str, timeout: float = 10.0):
        self.rest = rest.rstrip("/")
        self.timeout = timeout

    # --- HTTP ---------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.rest}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = _rest_errors(exc.read())
            raise ClusterError(f"{method} {path} on {self.rest} failed ({exc.code}): {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClusterError(
                f"no Flink cluster answers at {self.rest} ({reason}): start the local one with "
                f"`headwater cluster up`, or pass --cluster / HEADWATER_FLINK"
            ) from exc
        return json.loads(raw) if raw else {}

    # --- reading ------------------------------------------------------------------------------------
    def overview(self) -> dict:
        return self._call("GET", "/overview")

    def jobs(self) -> list[JobInfo]:
        found = []
        for job in self._call("GET", "/jobs/overview")["jobs"]:
            tasks = job.get("tasks", {})
            found.append(
                JobInfo(
                    job["jid"],
                    job["name"],
                    job["state"],
                    int(job.get("start-time", 0)),
                    int(tasks.get("running", 0)),
                    int(tasks.get("total", 0)),
                )
            )
        return sorted(found, key=lambda j: (-j.start_ms, j.name))

    def job(self, job_id: str) -> JobInfo:
        for job in self.jobs():
            if job.job_id == job_id:
                return job
        raise ClusterError(f"no job {job_id} on {self.rest}: `headwater jobs` lists them")

    def active_job(self, name_or_id: str) -> JobInfo:
        """The one running (not terminal) job with this Headwater name or job id."""
        jobs = self.jobs()
        if JOB_ID.match(name_or_id):
            matches = [j for j in jobs if j.job_id == name_or_id and j.active]
        else:
            matches = [j for j in jobs if j.headwater_job == name_or_id and j.active]
        if not matches:
            raise ClusterError(
                f"no running job {name_or_id!r} on {self.rest}: `headwater jobs` lists what runs "
                f"there, `headwater submit {name_or_id}` starts it"
            )
        if len(matches) > 1:
            raise ClusterError(
                f"{len(matches)} running jobs named {name_or_id!r} on {self.rest}: name one by its "
                f"job id ({', '.join(j.job_id for j in matches)})"
            )
        return matches[0]

    def find_active(self, name: str) -> JobInfo | None:
        try:
            return self.active_job(name)
        except ClusterError:
            return None

    def parallelism(self, job_id: str) -> int:
        """The highest parallelism of the job's operators (what `--parallelism` set)."""
        return max(int(v["parallelism"]) for v in self._call("GET", f"/jobs/{job_id}")["vertices"])

    def records_in_per_subtask(self, job_id: str, vertex_name: str) -> list[int]:
        """Records each subtask of the job's vertex whose name contains `vertex_name` has read from its
        inputs (Flink's read-records): how the keyed load spreads over the subtasks."""
        vertices = [v for v in self._call("GET", f"/jobs/{job_id}")["vertices"] if vertex_name in v["name"]]
        if len(vertices) != 1:
            raise ClusterError(f"job {job_id} has {len(vertices)} vertices named like {vertex_name!r}")
        subtasks = self._call("GET", f"/jobs/{job_id}/vertices/{vertices[0]['id']}")["subtasks"]
        return [int(s["metrics"]["read-records"]) for s in sorted(subtasks, key=lambda s: s["subtask"])]

    def restarts(self, job_id: str) -> int:
        """How many times the job restarted since it was submitted (Flink's numRestarts metric)."""
        values = self._call("GET", f"/jobs/{job_id}/metrics?get=numRestarts")
        return int(values[0]["value"]) if values else 0

    def failures(self, job_id: str) -> int:
        """How many failures the job's exception history holds (each made it restart tasks, or all)."""
        info = self._call("GET", f"/jobs/{job_id}/exceptions?maxExceptions=100")
        return len((info.get("exceptionHistory") or {}).get("entries") or [])

    def last_checkpoint(self, job_id: str) -> Checkpoint | None:
        """The newest completed checkpoint or savepoint of a job (None before the first one)."""
        stats = self._call("GET", f"/jobs/{job_id}/checkpoints")
        latest = stats.get("latest") or {}
        candidates = [c for c in (latest.get("completed"), latest.get("savepoint")) if c]
        if not candidates:
            return None
        newest = max(candidates, key=lambda c: c.get("latest_ack_timestamp", 0))
        return Checkpoint(
            int(newest["id"]),
            newest.get("external_path", ""),
            int(newest.get("latest_ack_timestamp", 0)),
            bool(newest.get("is_savepoint")),
            int(newest.get("trigger_timestamp", 0)),
        )

    def failure(self, job_id: str) -> str:
        """The first line of the job's root exception (why it failed or is restarting), or ''."""
        info = self._call("GET", f"/jobs/{job_id}/exceptions?maxExceptions=1")
        entries = (info.get("exceptionHistory") or {}).get("entries") or []
        text = (entries[0].get("stacktrace") if entries else None) or info.get("root-exception") or ""
        return root_cause(text)

    # --- acting -------------------------------------------------------------------------------------
    def savepoint(self, job_id: str, directory: str, timeout: float = 300.0) -> str:
        """Trigger a canonical savepoint under `directory` and wait for it; returns its path."""
        trigger = self._call(
            "POST",
            f"/jobs/{job_id}/savepoints",
            {"target-directory": directory, "cancel-job": False, "formatType": "CANONICAL"},
        )
        return self._wait_savepoint(job_id, trigger["request-id"], timeout, "savepoint")

    def stop_with_savepoint(self, job_id: str, directory: str, timeout: float = 300.0) -> str:
        """Stop the job gracefully with a canonical savepoint: every output up to it is committed, none
        after. Returns the savepoint's path."""
        trigger = self._call(
            "POST", f"/jobs/{job_id}/stop", {"targetDirectory": directory, "drain": False, "formatType": "CANONICAL"}
        )
        path = self._wait_savepoint(job_id, trigger["request-id"], timeout, "stop with savepoint")
        self.wait_for_state(job_id, TERMINAL_STATES, timeout=60)
        return path

    def cancel(self, job_id: str, timeout: float = 60.0) -> None:
        self._call("PATCH", f"/jobs/{job_id}?mode=cancel")
        self.wait_for_state(job_id, TERMINAL_STATES, timeout=timeout)

    def _wait_savepoint(self, job_id: str, request_id: str, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self._call("GET", f"/jobs/{job_id}/savepoints/{request_id}")
            if status["status"]["id"] == "COMPLETED":
                operation = status.get("operation") or {}
                if "location" in operation:
                    return operation["location"]
                cause = operation.get("failure-cause") or {}
                raise ClusterError(
                    f"{what} of job {job_id} failed: "
                    f"{root_cause(cause.get('stack-trace') or cause.get('class') or str(cause))}"
                )
            time.sleep(0.5)
        raise ClusterError(
            f"{what} of job {job_id} did not complete within {timeout:.0f} s (backpressure? a failing "
            f"checkpoint?): look at the job in {self.rest}"
        )

    def wait_for_state(self, job_id: str, states: set[str], timeout: float) -> JobInfo:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job.state in states:
                return job
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"job {job_id} is {job.state}, not {' or '.join(sorted(states))}, after {timeout:.0f} s"
                )
            time.sleep(0.5)

    def wait_until_running(self, job_id: str, timeout: float = 120.0) -> JobInfo:
        """Wait until every task of the job runs (state restored, sources reading). Raises with the
        job's own exception if it fails or keeps restarting instead."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job.fully_running:
                return job
            if job.state in TERMINAL_STATES or job.state in ("RESTARTING", "FAILING"):
                reason = self.failure(job_id) or job.state
                raise ClusterError(f"job {job.name} ({job_id}) is {job.state}: {reason}")
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"job {job.name} ({job_id}) still {job.state} with {job.tasks_running}/"
                    f"{job.tasks_total} tasks running after {timeout:.0f} s: look at {self.rest}"
                )
            time.sleep(0.3)


def _rest_errors(raw: bytes) -> str:
    try:
        errors = json.loads(raw).get("errors") or []
    except ValueError:
        return raw.decode(errors="replace")[:300]
    return root_cause("\n".join(str(e) for e in errors)) or "no detail"


def root_cause(text: str) -> str:
    """The most specific line of a Java stack trace: the last `Caused by:`, else the first line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    causes = [line.removeprefix("Caused by: ") for line in lines if line.startswith("Caused by:")]
    line = causes[-1] if causes else (lines[0] if lines else "")
    return line[:500]


def submission_error(job: str, restore_from: str | None, exc: BaseException) -> ClusterError:
    """One line for a submission the cluster refused, naming the fix where the cause is known."""
    cause = root_cause(str(exc))
    if restore_from and RESTORE_REFUSED in str(exc):
        operator = unmapped_operator(str(exc)) or f"an operator {job} does not have"
        return ClusterError(
            f"savepoint {restore_from} does not fit {job}: it holds state of {operator} (a savepoint of "
            f"another job, or of a version whose operators changed: CHANGELOG.md says which and how to move "
            f"on); restore from a savepoint of this job and version, or start empty on purpose with --reset"
        )
    if restore_from and ("FileNotFoundException" in cause or "Cannot access file system" in cause):
        return ClusterError(f"the cluster cannot read savepoint {restore_from}: {cause}")
    return ClusterError(f"the cluster refused {job}: {cause}")
