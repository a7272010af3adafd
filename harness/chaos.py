"""`make chaos`: the four jobs on the local cluster survive crashes, and nothing is lost or sent twice.

While SDK batches are produced at a fixed rate (5% of them malformed), faults are injected one after
the other: the first TaskManager is killed with SIGKILL (and restarted, as a supervisor would), then
the second, action-streaming is cancelled and submitted again without a savepoint (it must resume its
newest checkpoint), the Kafka broker is restarted, an unreadable record lands on every inter-job topic,
reaction-streaming runs 30 s with a MongoDB login that fails and is then fixed, and the MongoDB-wire
server is stopped for 3 minutes. For each
fault the time to recover is printed: from the fault (Kafka, FerretDB: from their return) until every job
runs with all its tasks and has completed a checkpoint triggered after the fault, so its outputs are
committed again.
Afterwards (harness/pipeline.py):
- every produced record is an action or a refusal with a reason code (accepted + refused = produced;
  no record is dropped uncounted);
- action-streaming's topics are byte-identical to the pure rules run once over the actions;
- every MongoDB document equals the reference model's;
- computation messages for every live profile give exactly the outbound events of the reference
  engine: none missing, none twice.

`python -m harness.chaos --batches 20000` (200k events, the default of `make chaos`); the integration test
tests/integration/test_chaos.py runs the short form.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import config
from common.kafka.admin import ensure_topics
from common.log import configure as configure_logging
from common.log import get_logger
from harness.pipeline import Pipeline
from infra.stack import flink_cluster
from infra.stack.services import build_services

log = get_logger(__name__)


@dataclass
class Fault:
    name: str
    at_share: float  # when, as a share of the production run
    inject: Callable[[], tuple[float, int, float]]  # does it; returns (recovery s, job failures, outage s)
    recovery_s: float | None = None
    restarts: int = 0
    outage_s: float = 0.0  # how long the service was away (a restart's own time, or the planned stop)


def _service(settings, name: str):
    return next(s for s in build_services(settings) if s.name == name)


def _cluster_service(settings, name: str):
    size = flink_cluster.recorded_size(settings)
    return next(s for s in flink_cluster.cluster_services(settings, size) if s.name == name)


class Chaos:
    def __init__(self, pipeline: Pipeline, say=log.info):
        self.pipeline, self.say = pipeline, say
        self.settings = pipeline.settings

    def restarts(self, except_job: str | None = None) -> int:
        """Failures that restarted tasks, over all jobs but `except_job` (Flink's exception history)."""
        return sum(
            self.pipeline.flink.failures(job.job_id) for name, job in self.pipeline.jobs.items() if name != except_job
        )

    def _wait_recovered(self, fault_s: float, timeout: float = 300) -> float:
        """Seconds from the fault (wall clock) until every job runs with all its tasks and has completed
        a checkpoint triggered after the fault: its outputs are committed again. A job that lost tasks
        cannot complete one until it restarted; reaction-streaming cannot while MongoDB is down."""
        deadline = time.monotonic() + timeout
        flink = self.pipeline.flink
        while time.monotonic() < deadline:
            try:
                if self.pipeline.all_running() and all(
                    (c := flink.last_checkpoint(job.job_id)) is not None and c.triggered_ms > fault_s * 1000
                    for job in self.pipeline.jobs.values()
                ):
                    return time.time() - fault_s
            except Exception:  # noqa: BLE001 - the REST API may not answer for a moment
                pass
            time.sleep(0.5)
        raise AssertionError(f"not recovered within {timeout:.0f} s")

    def kill_taskmanager(self, index: int) -> tuple[float, int, float]:
        service = _cluster_service(self.settings, f"flink-taskmanager-{index}")
        before = self.restarts()
        pid = service.running_pid()
        assert pid, f"flink-taskmanager-{index} is not running"
        fault = time.time()
        os.kill(pid, signal.SIGKILL)
        while service.running_pid():
            time.sleep(0.1)
        service.start()  # a supervisor brings the process back; the jobs restart from their checkpoints
        return self._wait_recovered(fault), self.restarts() - before, 0.0

    def restart_without_savepoint(self, job: str) -> tuple[float, int, float]:
        """Cancel `job` (no savepoint, as after a crash or `headwater stop JOB`) and submit it again with the
        plain command: it must resume its newest retained checkpoint, not start empty over its offsets."""
        others = self.restarts(except_job=job)  # the resubmitted job starts a new history
        fault = time.time()
        self.pipeline.flink.cancel(self.pipeline.jobs[job].job_id)
        restarted = self.pipeline.submit(job, label="-restarted")
        resumed = restarted.log.read_text(errors="replace")
        assert "resuming from its newest checkpoint" in resumed, f"{job} did not resume; see {restarted.log}"
        back = time.time()
        return self._wait_recovered(fault), self.restarts() - others, back - fault

    def wrong_mongodb_credentials(self, seconds: float) -> tuple[float, int, float]:
        """reaction-streaming deployed with a MongoDB login that fails, for `seconds`, then fixed: it must
        refuse no delta meanwhile (check_outbound finds no such refusal) and write them all once fixed."""
        host = self.settings.mongo_uri.split("://", 1)[1].split("/", 1)[0]
        wrong = {"HEADWATER_MONGO_URI": f"mongodb://nobody:wrong@{host}/?authMechanism=PLAIN"}
        others = self.restarts(except_job="reaction-streaming")
        fault = time.time()
        self.pipeline.flink.cancel(self.pipeline.jobs["reaction-streaming"].job_id)
        self.pipeline.submit("reaction-streaming", label="-wrong-credentials", env=wrong)
        time.sleep(seconds)
        back = time.time()
        self.pipeline.flink.cancel(self.pipeline.jobs["reaction-streaming"].job_id)
        self.pipeline.submit("reaction-streaming", label="-credentials-fixed")  # resumes its newest checkpoint
        return self._wait_recovered(back), self.restarts() - others, back - fault

    def poison_inter_job_topics(self) -> tuple[float, int, float]:
        """An unreadable record on every topic one job writes for another: each reader refuses it and goes on."""
        before = self.restarts()
        fault = time.time()
        self.pipeline.inject_poison()
        return self._wait_recovered(fault), self.restarts() - before, 0.0

    def restart_kafka(self) -> tuple[float, int, float]:
        kafka = _service(self.settings, "kafka")
        before = self.restarts()
        fault = time.time()
        kafka.stop()
        kafka.start()
        back = time.time()  # recovery counts from the broker's return; its own restart time is the outage
        return self._wait_recovered(back), self.restarts() - before, back - fault

    def stop_mongo(self, seconds: float) -> tuple[float, int, float]:
        ferretdb = _service(self.settings, "ferretdb")
        before = self.restarts()
        ferretdb.stop()
        time.sleep(seconds)
        back = time.time()  # recovery counts from the server's return, not from its stop
        ferretdb.start()
        return self._wait_recovered(back), self.restarts() - before, seconds


def run(
    env: dict[str, str],
    settings,
    cluster: str,
    log_dir: Path,
    *,
    batches: int,
    rate: float,
    mongo_outage_s: float = 20,
    credentials_s: float = 20,
    only: tuple[str, ...] | None = None,
    say=log.info,
) -> dict:
    """The whole chaos run; returns the figures (raises AssertionError on any loss or duplicate).
    `only`: the faults to inject, by name's start (default: all of them)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline(env, settings, cluster, log_dir)
    chaos = Chaos(pipeline, say)
    faults = [
        Fault("kill -9 TaskManager 1", 0.10, lambda: chaos.kill_taskmanager(1)),
        Fault("kill -9 TaskManager 2", 0.35, lambda: chaos.kill_taskmanager(2)),
        Fault(
            "action-streaming again, no savepoint", 0.45, lambda: chaos.restart_without_savepoint("action-streaming")
        ),
        Fault("restart the Kafka broker", 0.55, chaos.restart_kafka),
        Fault("a poison record per inter-job topic", 0.65, chaos.poison_inter_job_topics),
        Fault(
            f"wrong MongoDB credentials for {credentials_s:.0f} s",
            0.70,
            lambda: chaos.wrong_mongodb_credentials(credentials_s),
        ),
        Fault(f"stop FerretDB for {mongo_outage_s:.0f} s", 0.75, lambda: chaos.stop_mongo(mongo_outage_s)),
    ]
    if only is not None:
        faults = [f for f in faults if f.name.startswith(only)]
        assert faults, f"no fault starts with any of {only}"
    try:
        pipeline.submit_all()
        say(f"jobs submitted; producing {batches:,} SDK batches ({batches * 10:,} events) at {rate:g}/s")
        started = time.monotonic()
        producing = pipeline.produce_sdk(batches, seed=42, rate=rate, invalid_share=0.05)
        duration = batches / rate
        for fault in faults:
            while time.monotonic() - started < fault.at_share * duration:
                time.sleep(0.5)
            say(f"  {fault.name} at {time.monotonic() - started:.0f} s ...")
            fault.recovery_s, fault.restarts, fault.outage_s = fault.inject()
            say(f"    recovered in {fault.recovery_s:.1f} s ({fault.restarts} job failures)")
        assert producing.wait(timeout=3600) == 0, f"the producer failed; see {log_dir / 'produce.log'}"
        say("checking: every record accounted for, action-streaming's topics, MongoDB documents")
        pipeline.check_ingest(batches, timeout=900)
        pipeline.check_documents(timeout=900)
        say("sending computation messages to profile-dedupe and checking the outbound events")
        pipeline.wait_until_profiles_reached_dedupe()
        scenario = pipeline.compute_scenario()
        pipeline.send_messages(scenario.messages)
        pipeline.check_outbound(scenario)
        pipeline.check_poison()
    finally:
        pipeline.close()
    v = pipeline.verified
    say(
        f"\n{batches:,} SDK batches produced: {v.actions:,} accepted + {v.refused:,} refused with a reason code "
        f"(none dropped); {v.events:,} enriched events equal the rules; {v.documents:,} MongoDB documents equal the "
        f"reference; {v.outbound:,} outbound events for {v.messages:,} messages, none missing, none twice"
    )
    say(f"{'fault':<38} {'away':>7} {'recovery':>9}  job failures")
    for fault in faults:
        say(f"{fault.name:<38} {fault.outage_s:5.1f} s {fault.recovery_s:7.1f} s  {fault.restarts}")
    say(
        "recovery: from the fault (the TaskManagers) or the service's return (Kafka, FerretDB) until every job runs "
        "all its tasks and has completed a checkpoint triggered after it"
    )
    return {"faults": faults, "verified": v}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=20_000, help="SDK batches of 10 events (default 20,000)")
    ap.add_argument("--rate", type=float, default=200, help="batches per second (default 200: 2,000 events/s)")
    ap.add_argument("--mongo-outage", type=float, default=180, help="seconds FerretDB is stopped (default 180)")
    ap.add_argument(
        "--wrong-credentials", type=float, default=30, help="seconds reaction-streaming runs with a failing login"
    )
    args = ap.parse_args(argv)
    run_id = uuid.uuid4().hex[:8]
    env = {
        "HEADWATER_TOPIC_PREFIX": f"chaos{run_id}.",
        "HEADWATER_CHECKPOINTS": f"s3://headwater/chaos-{run_id}",
        "HEADWATER_MONGO_DB": f"chaos{run_id}",
    }
    settings = config.load({**os.environ, **env})
    ensure_topics(settings, partitions=4)
    if not any(pid for _, pid, _ in flink_cluster.processes(settings)):
        flink_cluster.up(settings, flink_cluster.ClusterSize(taskmanagers=2))
    run(
        env,
        settings,
        settings.flink_rest,
        settings.data_dir / "logs" / f"chaos-{run_id}",
        batches=args.batches,
        rate=args.rate,
        mongo_outage_s=args.mongo_outage,
        credentials_s=args.wrong_credentials,
    )
    return 0


if __name__ == "__main__":
    configure_logging()
    sys.exit(main())
