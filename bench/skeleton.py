"""Benchmark of the walking skeleton through the exactly-once path (`make bench-skeleton`).

Two phases against the local stack, on a private topic prefix:
1. throughput: a backlog of --records JSON records is produced first, then the job drains it;
   records/s counts from the first visible output to the last (job start-up excluded, printed apart).
2. latency: records produced at --rate for --seconds; latency = time visible to a read_committed
   reader - time produced. Exactly-once output is visible only when a checkpoint commits, so the
   checkpoint interval (flink-conf) dominates it.
Peak memory is the summed RSS of the job's process tree (Python client + the JVM with the MiniCluster).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
import uuid

from bench.measure import PeakMemory, mib, percentile
from common import config
from common.kafka.admin import ensure_topics
from common.serde.avro import AvroCodec
from common.topics import topic
from infra.harness.jobs import RunningJob
from infra.harness.kafka import Collector, produce


def _payload(seq: int) -> bytes:
    return json.dumps({"type": "track", "tenant": "bench", "customer_id": f"u{seq % 1000}", "event": "viewed",
                       "seq": seq, "produced_at": time.time()}).encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000, help="backlog size for the throughput phase")
    ap.add_argument("--rate", type=int, default=5_000, help="records/s offered in the latency phase")
    ap.add_argument("--seconds", type=int, default=20, help="length of the latency phase")
    args = ap.parse_args()

    run_id = uuid.uuid4().hex[:8]
    env = {"HEADWATER_TOPIC_PREFIX": f"bench{run_id}.", "HEADWATER_CHECKPOINTS": f"s3://headwater/bench-{run_id}"}
    settings = config.load({**os.environ, **env})
    ensure_topics(settings, partitions=2)
    ingest, out = topic(settings.topic_prefix, "ingest.api"), topic(settings.topic_prefix, "skeleton.envelopes")

    print(f"producing a backlog of {args.records} records to {ingest}")
    produce(settings.kafka_bootstrap, ingest, [_payload(i) for i in range(args.records)])
    collector = Collector(settings.kafka_bootstrap, out)
    log = settings.data_dir / "logs" / f"bench-skeleton-{run_id}.log"
    started = time.monotonic()
    job = RunningJob("skeleton", env, log)
    memory = PeakMemory(job.proc.pid)
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.is_set():
            memory.sample()
            time.sleep(0.5)

    threading.Thread(target=sample, daemon=True).start()
    try:
        first_visible = None
        while len(collector.values) < args.records:
            collector.poll_for(0.5)
            if collector.values and first_visible is None:
                first_visible = collector.arrivals[0]
                print(f"job start to first output: {time.monotonic() - started:.1f} s")
            if not job.alive():
                raise SystemExit(f"job exited; read {log}")
        drain_s = collector.arrivals[-1] - first_visible
        first_batch = sum(1 for t in collector.arrivals if t == first_visible)
        throughput = (args.records - first_batch) / drain_s if drain_s > 0 else float("inf")
        print(f"throughput: {args.records} records drained in {drain_s:.1f} s after first output "
              f"-> {throughput:,.0f} records/s (exactly-once, parallelism 1)")

        print(f"latency phase: {args.rate} records/s for {args.seconds} s")
        base, seq, t0 = len(collector.values), args.records, time.time()
        from confluent_kafka import Producer

        p = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True, "linger.ms": 1})
        while time.time() - t0 < args.seconds:
            due = int((time.time() - t0) * args.rate) + args.records
            while seq < due:
                p.produce(ingest, _payload(seq))
                seq += 1
            p.poll(0)
            collector.poll_for(0.01)
        p.flush(30)
        offered = seq - args.records
        collector.wait_for(base + offered, timeout=60)
        codec = AvroCodec()
        latencies = sorted(
            arrival - json.loads(codec.decode(v)["payload"])["produced_at"]
            for v, arrival in zip(collector.values[base:], collector.arrivals[base:])
        )
        print(f"latency produce -> visible downstream over {len(latencies)} of {offered} records: "
              f"p50 {percentile(latencies, 50) * 1000:.0f} ms, p95 {percentile(latencies, 95) * 1000:.0f} ms, "
              f"p99 {percentile(latencies, 99) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")
    finally:
        stop_sampling.set()
        job.kill(signal.SIGTERM)
        collector.close()
    print(f"peak memory of the job process tree (Python + JVM MiniCluster): {mib(memory.peak)}")


if __name__ == "__main__":
    main()
