"""Benchmark of reaction-streaming (`make bench-reaction`) beside a plain loop on the same server.

The same synthetic delta stream (harness/deltas.py: --entities documents, about --per-entity
deltas each, with duplicates and stale retries) is written twice to FerretDB, each time into an
empty database:
- plain loop: pymongo, the deltas in stream order, one version-gated write per delta (the same two
  statements as the job's, requests.py), as many per ordered `update` command as the job puts in one
  (HEADWATER_MONGO_STATEMENTS_PER_COMMAND), one command at a time: the store's single-stream limit.
- the job: `headwater run reaction-streaming` on the deltas produced to Kafka beforehand, once per
  value of --in-flight (HEADWATER_MONGO_COMMANDS_IN_FLIGHT: 1, 4 and 8 by default); timed from its
  first progress line to the line that counts every delta (start-up printed apart).
Printed: deltas/s, documents/s (distinct documents ÷ time), the job's coalescing ratio and write
latency, and peak memory of the job's process tree.
"""

from __future__ import annotations

import argparse
import os
import random
import time
import uuid

from pymongo import MongoClient

from bench.measure import PeakMemory, mib
from common import config
from common.kafka.admin import ensure_topics
from common.log import configure as configure_logging
from common.log import get_logger
from harness.deltas import entity_deltas, interleave
from harness.deltas import produce as produce_deltas
from harness.jobs import RunningJob
from jobs.reaction_streaming.coalesce import coalesce
from jobs.reaction_streaming.report import parse_reports
from jobs.reaction_streaming.requests import statements
from jobs.reaction_streaming.settings import ReactionSettings

log = get_logger(__name__)


def plain_loop(settings, database: str, deltas: list[dict]) -> float:
    """Seconds to write every delta, one version-gated write each (requests.py), in stream order."""
    db = MongoClient(settings.mongo_uri)[database]
    per_command = ReactionSettings.from_env().statements_per_command // 2
    started = time.monotonic()
    batch: list[dict] = []

    def flush():
        for collection in ("users", "devices"):
            updates = [s for d in batch if d["collection"] == collection for s in statements(coalesce([d])[0])]
            if updates:  # ordered: two deltas of one document may share a command
                db.command({"update": collection, "updates": updates, "ordered": True})
        batch.clear()

    for d in deltas:
        batch.append(d)
        if len(batch) == per_command:
            flush()
    flush()
    return time.monotonic() - started


def run_job(settings, env: dict, deltas: list[dict], job_log) -> dict:
    produce_deltas(settings, deltas)
    job = RunningJob("reaction-streaming", env, job_log)
    memory = PeakMemory(job.proc.pid).start()
    started, first, last = time.monotonic(), None, None
    try:
        while job.alive():
            reports = parse_reports(job_log.read_text(errors="replace"))
            if reports and first is None:
                first = (time.monotonic(), reports[0])
                log.info(f"  job start-up {first[0] - started:.1f} s")
            if reports and reports[-1]["deltas"] >= len(deltas):
                last = (time.monotonic(), reports[-1])
                break
            time.sleep(0.5)
    finally:
        memory.stop()
        job.kill()
    if last is None:
        raise SystemExit(f"reaction-streaming stopped before writing every delta; see {job_log}")
    return {
        "seconds": last[0] - first[0],
        "counted": last[1]["deltas"] - first[1]["deltas"],
        "report": last[1],
        "memory": memory.peak,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, default=10_000)
    ap.add_argument("--per-entity", type=int, default=10, help="average deltas per document")
    ap.add_argument("--in-flight", default="1,4,8", help="commands in flight per run of the job (default 1,4,8)")
    args = ap.parse_args()
    rng = random.Random(7)
    streams = [entity_deltas(rng, "bench", e, rng.randint(1, 2 * args.per_entity - 1)) for e in range(args.entities)]
    deltas = interleave(rng, streams)
    documents = sum(1 for s in streams if s)
    settings = config.load()
    client = MongoClient(settings.mongo_uri)
    log.info(f"{len(deltas):,} deltas for {documents:,} documents")
    plain_db = f"bench{uuid.uuid4().hex[:8]}plain"
    try:
        log.info("plain pymongo loop (one version-gated write per delta, one command at a time) ...")
        plain_s = plain_loop(settings, plain_db, deltas)
    finally:
        client.drop_database(plain_db)
    rows = []
    for in_flight in [int(n) for n in args.in_flight.split(",")]:
        run_id = uuid.uuid4().hex[:8]
        env = {
            "HEADWATER_TOPIC_PREFIX": f"bench{run_id}.",
            "HEADWATER_CHECKPOINTS": f"s3://headwater/bench-{run_id}",
            "HEADWATER_MONGO_DB": f"bench{run_id}job",
            "HEADWATER_MONGO_COMMANDS_IN_FLIGHT": str(in_flight),
        }
        job_settings = config.load({**os.environ, **env})
        ensure_topics(job_settings, partitions=4)
        log.info(f"reaction-streaming job, {in_flight} command(s) in flight ...")
        try:
            job = run_job(job_settings, env, deltas, settings.data_dir / "logs" / f"bench-reaction-{run_id}.log")
        finally:
            client.drop_database(f"bench{run_id}job")
        rows.append((in_flight, job))
    log.info(f"\n{'':<32}{'deltas/s':>10}{'documents/s':>13}{'x plain':>9}  write p50/p99 ms  peak memory")
    log.info(f"{'plain loop (1 in flight)':<32}{len(deltas) / plain_s:>10,.0f}{documents / plain_s:>13,.0f}")
    for in_flight, job in rows:
        r = job["report"]
        job_docs_s = documents / job["seconds"] * job["counted"] / len(deltas)
        log.info(
            f"{f'reaction-streaming, {in_flight} in flight':<32}{job['counted'] / job['seconds']:>10,.0f}"
            f"{job_docs_s:>13,.0f}{job_docs_s / (documents / plain_s):>8.2f}x  "
            f"{r['write_p50_ms']:>5} / {r['write_p99_ms']:<6}    {mib(job['memory'])}"
        )
    coalescing = rows[-1][1]["report"]
    log.info(
        f"coalescing {coalescing['deltas'] / coalescing['writes']:.2f}x ({coalescing['writes']:,} writes for "
        f"{coalescing['deltas']:,} deltas)"
    )


if __name__ == "__main__":
    configure_logging()
    main()
