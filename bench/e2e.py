"""`make bench-e2e`: freshness under load, from produce to visible in MongoDB.

api-unification, action-streaming and reaction-streaming run on the local cluster (`headwater cluster
up`, started if needed). SDK batches of 10 events (seeded generator, --tenants, --users) are produced
at a fixed rate per step, keyed by user (one user's batches keep their order), their events timed at
the moment they are produced. Each batch carries its produce time as the user attribute `hw_sent_ms`,
and a poller reads it back with `_id` point reads of the users it is waiting for, one at a time (a
user's document id is derived from the tenant, the first batch's message id and its customer id, as
action-streaming derives it): a batch is visible when its user's document holds its stamp or a later
one. Freshness = visible - produced. (FerretDB answers a `find_one` by `_id` in about 1 ms on an idle
server; a `$in` of 100 ids or a scan of the stamped attribute costs a collection scan, 230-350 ms for
2,000 users: an earlier poller that scanned, then idled three times as long, measured mostly itself.)

The rate steps up (--rates, in events/s) until p99 freshness passes 5 s. For each step it prints:
- events/s offered and achieved;
- p50 / p93 / p99 / max freshness;
- the store's own ceiling, measured right after the step: a plain pymongo loop writing documents of
  the same shape with the job's two statements per write, its command size and as many commands in
  flight (HEADWATER_MONGO_COMMANDS_IN_FLIGHT), as events/s (a batch of 10 events makes two documents:
  the user and the device); and the offered rate as a share of it;
- the jobs' consumer lag;
- the peak memory of every process.

The jobs run with a 1 s checkpoint interval (--checkpoint-interval-ms; flink-conf's default is 2 s):
each Kafka hop between them becomes visible only when a checkpoint commits it.

The per-second series goes to a CSV and a PNG plot under --out. Options go in BENCH_ARGS, e.g.
`make bench-e2e BENCH_ARGS="--rates 2000,5000 --seconds 20"`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import threading
import time
import uuid
from collections import defaultdict, deque
from pathlib import Path

from bench.measure import PeakMemory, mib, percentile
from cli.produce import producer
from cli.synthetic import WRITE_KEYS, Generator
from common import config
from common.contracts.deltas import doc_id
from common.contracts.routing import seal
from common.flink.kafka import client_name
from common.kafka.admin import ensure_topics
from common.kafka.produce import send
from common.log import configure as configure_logging
from common.log import get_logger
from common.topics import topic
from harness.jobs import SubmittedJob
from infra.stack import flink_cluster
from infra.stack.services import build_services
from jobs.action_streaming.levels import user_id
from jobs.api_unification.timestamps import iso
from jobs.reaction_streaming.coalesce import Write
from jobs.reaction_streaming.requests import statements
from jobs.reaction_streaming.settings import ReactionSettings

log = get_logger(__name__)

JOBS = ("api-unification", "action-streaming", "reaction-streaming")
TENANTS = ("acme", "globex", "bench")
TARGET_P99_MS = 5_000
EVENTS_PER_DOCUMENT = 5  # a batch of 10 events writes two documents (its user and its device)
GROUP_TOPICS = {
    "api-unification": [f"ingest.{s}" for s in ("sdk", "api", "partner", "csv")],
    "action-streaming": ["unified.actions"],
    "reaction-streaming": ["state.deltas"],
}


class Freshness:
    """Batches sent per user, and when the users collection first showed each of them."""

    def __init__(self, settings):
        from pymongo import MongoClient

        self.users = MongoClient(settings.mongo_uri)[settings.mongo_database]["users"]
        self.pending: dict[tuple[str, str], deque] = defaultdict(deque)  # (stamp ms, events) per user, in order
        self.doc_ids: dict[tuple[str, str], str] = {}  # user -> its document's _id
        self.lock = threading.Lock()
        self.offered: list[tuple[float, int]] = []  # (produced, events)
        self.seen: list[tuple[float, float, int]] = []  # (produced, visible, events), seconds since epoch
        self.stop = threading.Event()

    def sent(self, tenant: str, user: str, message_id: str, stamp_ms: int, events: int) -> None:
        with self.lock:
            if (tenant, user) not in self.doc_ids:  # a user lives at its customer id's key (levels.py)
                self.doc_ids[(tenant, user)] = doc_id(tenant, user_id(seal(tenant, f"customer_id:{user}")))
            self.pending[(tenant, user)].append((stamp_ms, events))
            self.offered.append((stamp_ms / 1000, events))

    def examples(self, n: int = 3) -> list[str]:
        """A few batches not visible yet, with what their user's document holds."""
        with self.lock:
            waiting = [(key, q[0][0]) for key, q in self.pending.items() if q][:n]
        out = []
        for (tenant, user), stamp_ms in waiting:
            doc = self.users.find_one({"_id": self.doc_ids[(tenant, user)]}, {"attributes.hw_sent_ms": 1, "version": 1})
            out.append(f"{tenant}/{user} sent {stamp_ms}: document {doc}")
        return out

    def outstanding(self) -> int:
        with self.lock:
            return sum(len(q) for q in self.pending.values())

    def poll_forever(self) -> None:
        """Read the documents of the users with batches not yet seen, by `_id`: one point read at a time
        (a modest, steady load beside the writes being measured), oldest waiting batch first, once a
        batch is 0.5 s old (none is visible sooner: each hop waits for a checkpoint), round after round.
        A round takes about one read per waiting user, which bounds how late a visible batch is noticed."""
        while not self.stop.is_set():
            started = time.monotonic()
            old_enough_ms = (time.time() - 0.5) * 1000
            with self.lock:
                waiting = sorted(
                    (queue[0][0], self.doc_ids[key], key)
                    for key, queue in self.pending.items()
                    if queue and queue[0][0] <= old_enough_ms
                )
            for _oldest, doc_id_, key in waiting:
                doc = self.users.find_one({"_id": doc_id_}, {"attributes.hw_sent_ms": 1})
                stamp_ms = ((doc or {}).get("attributes") or {}).get("hw_sent_ms")
                now = time.time()
                with self.lock:
                    queue = self.pending.get(key)
                    while stamp_ms is not None and queue and queue[0][0] <= stamp_ms:
                        sent_ms, events = queue.popleft()
                        self.seen.append((sent_ms / 1000, now, events))
            self.stop.wait(max(0.0, 0.25 - (time.monotonic() - started)))


class Sampler:
    """Once a second: each job's consumer lag and every process's memory."""

    def __init__(self, settings, processes: dict[str, int]):
        from confluent_kafka import Consumer

        self.settings = settings
        self.consumers = {
            job: Consumer(
                {
                    "bootstrap.servers": settings.kafka_bootstrap,
                    "group.id": client_name(settings, job),
                    "enable.auto.commit": False,
                }
            )
            for job in JOBS
        }
        self.memory = {name: PeakMemory(pid) for name, pid in processes.items()}
        self.lags: list[tuple[float, dict[str, int]]] = []
        self.stop = threading.Event()

    def lag(self, job: str) -> int:
        from confluent_kafka import TopicPartition

        consumer = self.consumers[job]
        total = 0
        for suffix in GROUP_TOPICS[job]:
            name = topic(self.settings.topic_prefix, suffix)
            partitions = consumer.list_topics(name, timeout=5).topics[name].partitions
            wanted = [TopicPartition(name, p) for p in partitions]
            for tp in consumer.committed(wanted, timeout=5):
                _low, high = consumer.get_watermark_offsets(tp, timeout=5)
                total += max(0, high - max(tp.offset, 0))
        return total

    def run_forever(self) -> None:
        while not self.stop.is_set():
            for m in self.memory.values():
                m.sample()
            self.lags.append((time.time(), {job: self.lag(job) for job in JOBS}))
            self.stop.wait(1.0)


def store_ceiling(settings, seconds: float = 5.0) -> float:
    """Documents/s a plain pymongo loop writes to the same server: user-shaped documents, the job's two
    statements per write (an upsert of the version, then a version-gated `$set`), its command size
    and as many commands in flight as the job (threads), into a scratch collection dropped afterwards."""
    from concurrent.futures import ThreadPoolExecutor

    from pymongo import MongoClient

    options = ReactionSettings.from_env()
    per_command = max(1, options.statements_per_command // 2)
    client = MongoClient(settings.mongo_uri, maxPoolSize=options.commands_in_flight * options.statements_per_command)
    scratch = client[settings.mongo_database][f"ceiling{uuid.uuid4().hex[:8]}"]
    deadline = time.monotonic() + seconds

    def writer(lane: int) -> int:
        written, n = 0, 0
        while time.monotonic() < deadline:
            updates = []
            for _ in range(per_command):
                n += 1
                now_ms = int(time.time() * 1000)
                change = {"attributes.hw_sent_ms": now_ms, "counters.app_opened": n, "last_seen_ms": now_ms}
                updates += statements(Write("users", f"ceiling:{lane}:{n}", 1, set=change))
            scratch.database.command({"update": scratch.name, "updates": updates, "ordered": True})
            written += per_command
        return written

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(options.commands_in_flight) as pool:
            written = sum(pool.map(writer, range(options.commands_in_flight)))
    finally:
        scratch.drop()
        client.close()
    return written / (time.monotonic() - started)


def _processes(settings) -> dict[str, int]:
    found = {s.name: s.running_pid() for s in build_services(settings)}
    found.update({name: pid for name, pid, _ in flink_cluster.processes(settings)})
    return {name: pid for name, pid in found.items() if pid}


def _step(rate: int, seconds: int, generator: Generator, tenants, freshness: Freshness, settings, p) -> dict:
    """Offer `rate` events/s for `seconds`; wait until every batch is visible (or 60 s more)."""
    batches_per_s = rate / 10
    target = topic(settings.topic_prefix, "ingest.sdk")
    started, sent = time.time(), 0
    first_seen = len(freshness.seen)
    while time.time() - started < seconds:
        due = int((time.time() - started) * batches_per_s)
        while sent < due:
            batch = generator.sdk(10)
            batch["tenant"] = tenants[sent % len(tenants)]
            batch["write_key"] = WRITE_KEYS[batch["tenant"]]
            stamp_ms = int(time.time() * 1000)
            # Attributes are ordered by event time (an older batch does not overwrite a newer value), so
            # the events happen now: a user's later batch is also its newer one.
            for event in batch["events"]:
                event["time"] = iso(stamp_ms)
            batch["sent_at"] = iso(stamp_ms)
            batch["attributes"] = {"hw_sent_ms": stamp_ms}
            user = batch["user"]["customer_id"]
            send(p, target, json.dumps(batch).encode(), key=f"{batch['tenant']}:{user}".encode())
            freshness.sent(batch["tenant"], user, batch["message_id"], stamp_ms, len(batch["events"]))
            sent += 1
        p.poll(0)
        time.sleep(0.002)
    offered_s = time.time() - started
    p.flush(60)
    deadline = time.time() + 60
    while freshness.outstanding() and time.time() < deadline:
        time.sleep(0.5)
    seen = freshness.seen[first_seen:]
    lateness = sorted((visible - produced) * 1000 for produced, visible, _ in seen)
    events = sum(e for _, _, e in seen)
    last = max((visible for _, visible, _ in seen), default=started)
    lost = freshness.outstanding()
    return {
        "rate": rate,
        "offered": sent * 10 / offered_s,
        "achieved": events / max(last - started, 1e-9),
        "batches": sent,
        "visible": len(seen),
        "late_or_lost": lost,
        "p50": percentile(lateness, 50),
        "p93": percentile(lateness, 93),
        "p99": percentile(lateness, 99),
        "max": lateness[-1] if lateness else float("inf"),
    }


def _write_series(out: Path, freshness: Freshness, sampler: Sampler, t0: float) -> None:
    per_second: dict[int, list] = defaultdict(list)
    offered: dict[int, int] = defaultdict(int)
    for produced, visible, _events in freshness.seen:
        per_second[int(visible - t0)].append((visible - produced) * 1000)
    for produced, events in freshness.offered:
        offered[int(produced - t0)] += events
    visible_events = defaultdict(int)
    for _produced, visible, events in freshness.seen:
        visible_events[int(visible - t0)] += events
    lags = {int(t - t0): lag for t, lag in sampler.lags}
    seconds = sorted(set(per_second) | set(offered) | set(lags))
    with (out / "e2e.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "second",
                "offered_events",
                "visible_events",
                "freshness_p50_ms",
                "freshness_p99_ms",
                *[f"lag_{job}" for job in JOBS],
            ]
        )
        for s in seconds:
            values = sorted(per_second.get(s, []))
            w.writerow(
                [
                    s,
                    offered.get(s, 0),
                    visible_events.get(s, 0),
                    round(percentile(values, 50)) if values else "",
                    round(percentile(values, 99)) if values else "",
                    *[lags.get(s, {}).get(job, "") for job in JOBS],
                ]
            )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    a.plot(seconds, [offered.get(s, 0) for s in seconds], label="offered")
    a.plot(seconds, [visible_events.get(s, 0) for s in seconds], label="visible in MongoDB")
    a.set_ylabel("events/s"), a.legend()
    with_values = [s for s in seconds if per_second.get(s)]
    b.plot(with_values, [percentile(sorted(per_second[s]), 50) / 1000 for s in with_values], label="p50")
    b.plot(with_values, [percentile(sorted(per_second[s]), 99) / 1000 for s in with_values], label="p99")
    b.axhline(TARGET_P99_MS / 1000, color="red", linestyle="--", label="5 s target")
    b.set_ylabel("freshness (s)"), b.legend()
    for job in JOBS:
        c.plot([s for s in seconds if s in lags], [lags[s][job] for s in seconds if s in lags], label=job)
    c.set_ylabel("consumer lag (records)"), c.set_xlabel("seconds"), c.legend()
    fig.tight_layout()
    fig.savefig(out / "e2e.png", dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="500,1000,2500,5000,7500", help="events/s per step (comma-separated)")
    ap.add_argument("--seconds", type=int, default=30, help="seconds per step")
    ap.add_argument("--tenants", type=int, default=2, choices=(1, 2, 3))
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--checkpoint-interval-ms",
        type=int,
        default=1000,
        help="the jobs' checkpoint interval (flink-conf's default is 2000); each Kafka hop between "
        "the jobs waits for one, so it sets most of the freshness",
    )
    ap.add_argument("--out", type=Path, help="where the CSV and PNG go (default .data/bench/e2e-<run>)")
    args = ap.parse_args()
    rates = [int(r) for r in args.rates.split(",")]

    run_id = uuid.uuid4().hex[:8]
    env = {
        "HEADWATER_TOPIC_PREFIX": f"e2e{run_id}.",
        "HEADWATER_CHECKPOINTS": f"s3://headwater/e2e-{run_id}",
        "HEADWATER_MONGO_DB": f"e2e{run_id}",
    }
    if args.checkpoint_interval_ms:
        env["HEADWATER_CHECKPOINT_INTERVAL_MS"] = str(args.checkpoint_interval_ms)
    settings = config.load({**os.environ, **env})
    out = args.out or settings.data_dir / "bench" / f"e2e-{run_id}"
    out.mkdir(parents=True, exist_ok=True)
    ensure_topics(settings, partitions=4)
    if not any(pid for _, pid, _ in flink_cluster.processes(settings)):
        log.info("starting the local cluster (2 TaskManagers)")
        flink_cluster.up(settings, flink_cluster.ClusterSize(taskmanagers=2))
    tenants = TENANTS[: args.tenants]
    jobs = []
    freshness = Freshness(settings)
    sampler = Sampler(settings, _processes(settings))
    threads = [
        threading.Thread(target=freshness.poll_forever, daemon=True),
        threading.Thread(target=sampler.run_forever, daemon=True),
    ]
    results = []
    t0 = time.time()
    try:
        for job in JOBS:
            jobs.append(SubmittedJob(job, env, out / f"{job}.log"))
            log.info(f"submitted {job} ({jobs[-1].submit_s:.1f} s)")
        for thread in threads:
            thread.start()
        generator = Generator(args.seed, int(time.time() * 1000), users=args.users)
        p = producer(settings)
        log.info("warming up at 200 events/s for 20 s")
        _step(200, 20, generator, tenants, freshness, settings, p)
        log.info(
            f"{'offered ev/s':>12} {'achieved':>9} {'p50 ms':>7} {'p93 ms':>7} {'p99 ms':>7} {'max ms':>7} "
            f"{'store ceiling ev/s':>18} {'share':>6} late/lost"
        )
        for rate in rates:
            r = _step(rate, args.seconds, generator, tenants, freshness, settings, p)
            r["ceiling"] = store_ceiling(settings) * EVENTS_PER_DOCUMENT
            results.append(r)
            log.info(
                f"{r['offered']:>12,.0f} {r['achieved']:>9,.0f} {r['p50']:>7,.0f} {r['p93']:>7,.0f} {r['p99']:>7,.0f} "
                f"{r['max']:>7,.0f} {r['ceiling']:>18,.0f} {r['offered'] / r['ceiling']:>6.0%} {r['late_or_lost']}"
            )
            if r["late_or_lost"]:
                log.info("  not visible: " + "; ".join(freshness.examples()))
            if r["p99"] > TARGET_P99_MS or r["late_or_lost"]:
                log.info("  freshness broke: p99 over 5 s (or batches not visible within 60 s); stopping")
                break
    finally:
        freshness.stop.set()
        sampler.stop.set()
        for job in jobs:
            job.kill()
    _write_series(out, freshness, sampler, t0)
    good = [r for r in results if r["p99"] <= TARGET_P99_MS and not r["late_or_lost"]]
    best = max(good, key=lambda r: r["offered"], default=None)
    if best is None:
        log.info("\nno step kept p99 freshness under 5 s")
    else:
        log.info(
            f"\nhighest rate with p99 freshness under 5 s: {best['offered']:,.0f} events/s, "
            f"{best['offered'] / best['ceiling']:.0%} of the store's ceiling measured after it "
            f"({best['ceiling']:,.0f} events/s; goal 80%)"
        )
    log.info("peak memory: " + ", ".join(f"{name} {mib(m.peak)}" for name, m in sampler.memory.items()))
    log.info(f"series: {out / 'e2e.csv'}, plot: {out / 'e2e.png'}")


if __name__ == "__main__":
    configure_logging()
    main()
