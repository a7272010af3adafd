"""Benchmark of the walking skeleton through the exactly-once path (`make bench-skeleton`).

Throughput: a backlog of --records JSON records drained by the job. Latency: --rate records/s for
--seconds. See bench/drive.py for how each figure is taken.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid

from confluent_kafka import Producer

from bench.drive import Drive
from bench.measure import mib
from common import config
from common.kafka.admin import ensure_topics
from common.log import configure as configure_logging
from common.log import get_logger
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.kafka import produce

log = get_logger(__name__)


def _payload(seq: int) -> bytes:
    return json.dumps(
        {
            "type": "track",
            "tenant": "bench",
            "customer_id": f"u{seq % 1000}",
            "event": "viewed",
            "seq": seq,
            "produced_at": time.time(),
        }
    ).encode()


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

    log.info(f"producing a backlog of {args.records} records to {ingest}")
    produce(settings.kafka_bootstrap, ingest, [_payload(i) for i in range(args.records)])
    drive = Drive(
        "skeleton", env, settings.kafka_bootstrap, out, settings.data_dir / "logs" / f"bench-skeleton-{run_id}.log"
    )
    try:
        drive.drain(args.records)
        log.info(f"job start to first output: {drive.run.startup_s:.1f} s")
        log.info(
            f"throughput: {args.records} records drained in {drive.run.drain_s:.1f} s after first output "
            f"-> {args.records / drive.run.drain_s:,.0f} records/s (exactly-once, parallelism 1)"
        )
        log.info(f"latency phase: {args.rate} records/s for {args.seconds} s")
        p = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True, "linger.ms": 1})
        codec = AvroCodec()
        drive.at_rate(
            args.rate,
            args.seconds,
            send=lambda i: (p.produce(ingest, _payload(args.records + i)), p.poll(0)),
            produced_at=lambda v: json.loads(codec.decode(v)["payload"])["produced_at"],
            flush=lambda: p.flush(30),
        )
    finally:
        run = drive.stop()
    log.info(
        f"latency produce -> visible downstream over {len(run.latencies_s)} records: p50 {run.latency_ms(50):.0f} ms, "
        f"p95 {run.latency_ms(95):.0f} ms, p99 {run.latency_ms(99):.0f} ms, max {run.latency_ms(100):.0f} ms"
    )
    log.info(f"peak memory of the job process tree (Python + JVM MiniCluster): {mib(run.peak_memory)}")


if __name__ == "__main__":
    configure_logging()
    main()
