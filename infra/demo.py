"""`make demo`: run the walking skeleton on the embedded Flink MiniCluster against the local stack.

Starts the job, produces examples/api.jsonl to hw.ingest.api, waits until every record is visible
(read_committed) on hw.skeleton.envelopes, prints a few of them and where everything lives, then
stops the job. The stack stays up for you to explore (`make down` stops it).
"""

from __future__ import annotations

import signal
import sys
import time

from cli.produce import produce_file
from cli.tail import render
from common import config
from common.flink.checkpoints import completed_checkpoints
from common.serde.avro import AvroCodec
from common.topics import topic
from infra.harness.jobs import RunningJob
from infra.harness.kafka import Collector

SAMPLE = config.REPO_ROOT / "examples" / "api.jsonl"
TIMEOUT_S = 180


def main() -> int:
    settings = config.load()
    out_topic = topic(settings.topic_prefix, "skeleton.envelopes")
    collector = Collector(settings.kafka_bootstrap, out_topic)
    collector.poll_for(3)
    before = len(collector.values)
    log = settings.data_dir / "logs" / "demo-skeleton.log"
    print(f"1/4 starting the skeleton job on the embedded Flink MiniCluster (log: {log})")
    job = RunningJob("skeleton", {}, log)
    try:
        print(f"2/4 producing {SAMPLE.relative_to(config.REPO_ROOT)}")
        sent = produce_file(settings, "api", SAMPLE)
        print(f"3/4 waiting for {sent} envelopes on {out_topic} (they become visible when a checkpoint commits)")
        deadline = time.monotonic() + TIMEOUT_S
        while len(collector.values) < before + sent and time.monotonic() < deadline:
            if not job.alive():
                print(f"demo: the job exited early; read {log}", file=sys.stderr)
                return 1
            collector.poll_for(2)
            print(f"    {len(collector.values) - before}/{sent} envelopes")
        if len(collector.values) < before + sent:
            print(f"demo: only {len(collector.values) - before} of {sent} envelopes after {TIMEOUT_S} s; read {log}",
                  file=sys.stderr)
            return 1
    finally:
        job.kill(signal.SIGTERM)
        collector.close()
    codec = AvroCodec()
    print("4/4 done. The last envelopes:")
    for value in collector.values[-3:]:
        print("    " + render(value, codec)[:160])
    checkpoints = completed_checkpoints(settings, "skeleton")
    print(f"""
Where to look:
  envelopes      .venv/bin/headwater tail skeleton.envelopes --max 5   ({len(collector.values)} on {out_topic})
  checkpoints    {len(checkpoints)} retained under {settings.checkpoints}/skeleton
                 (MinIO at {settings.s3_endpoint}, user {settings.s3_access_key})
                 latest: {checkpoints[-1] if checkpoints else '-'}
  stack          .venv/bin/headwater status   (logs under {settings.data_dir / 'logs'})
  stop it all    make down""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
