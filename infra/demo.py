"""`make demo`: the pipeline so far on the embedded Flink MiniCluster, against the local stack.

Starts api-unification and action-streaming, produces examples/api.jsonl and examples/bad.jsonl and
imports examples/customers.csv, waits until the outputs settle, then prints what each topic holds, a
user document as reaction-streaming wrote it to MongoDB, the savepoint each job stopped with, and
where to look.
The stack stays up (`make down` stops it).
"""

from __future__ import annotations

import sys
import time
from collections import Counter

from cli.import_csv import import_csv
from cli.produce import produce_file
from common import config
from common.serde.avro import AvroCodec
from common.topics import topic
from infra.harness.jobs import RunningJob
from infra.harness.kafka import Collector
from infra.harness.mongo_model import fold

EXAMPLES = config.REPO_ROOT / "examples"
JOBS = ("api-unification", "action-streaming", "reaction-streaming")
OUTPUTS = ("unified.actions", "rejected", "state.deltas", "events.enriched", "identity.profiles")
TIMEOUT_S = 240


def main() -> int:
    settings = config.load()
    logs = settings.data_dir / "logs"
    collectors = {name: Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, name)) for name in OUTPUTS}
    before = {name: c.catch_up() for name, c in collectors.items()}  # records of earlier runs are not new
    sample_lines = sum(1 for line in (EXAMPLES / "api.jsonl").open() if line.strip())
    bad_lines = sum(1 for line in (EXAMPLES / "bad.jsonl").open() if line.strip())
    print(f"1/4 starting api-unification, action-streaming and reaction-streaming on the embedded Flink MiniCluster "
          f"(logs in {logs})")
    jobs = [RunningJob(name, {}, logs / f"demo-{name}.log") for name in JOBS]
    try:
        print("2/4 producing sample events, a few bad records, and a CSV import")
        produce_file(settings, "api", EXAMPLES / "api.jsonl")
        produce_file(settings, "api", EXAMPLES / "bad.jsonl")
        csv_rows, _refused = import_csv(settings, "acme", EXAMPLES / "customers.csv", EXAMPLES / "customers.mapping.yaml")
        expected_actions = sample_lines + csv_rows  # every valid sample line and sent row becomes one action
        print("3/4 waiting for the outputs (they become visible when a checkpoint commits, every 2 s)")
        deadline, last_change, last = time.monotonic() + TIMEOUT_S, time.monotonic(), None
        while time.monotonic() < deadline:
            if not all(job.alive() for job in jobs):
                print(f"demo: a job exited early; read the logs in {logs}", file=sys.stderr)
                return 1
            for c in collectors.values():
                c.poll_for(0.3)
            counts = tuple(len(c.values) - before[n] for n, c in collectors.items())
            if counts != last:
                last, last_change = counts, time.monotonic()
                print("    " + ", ".join(f"{n} {k}" for n, k in zip(OUTPUTS, counts)))
            elif (counts[0] >= expected_actions and counts[1] >= bad_lines and counts[2] > 0
                  and time.monotonic() - last_change > 6):
                break  # everything arrived and nothing changed for 3 checkpoints: settled
        else:
            print(f"demo: no settled output within {TIMEOUT_S} s; read the logs in {logs}", file=sys.stderr)
            return 1
        document = _mongo_user(settings, collectors["state.deltas"].values)
        savepoints = {}
        for name, job in zip(JOBS, jobs):  # as Ctrl-C on `headwater run` would
            savepoints[name] = job.stop_with_savepoint()
    finally:
        for job in jobs:
            job.kill()
        for c in collectors.values():
            c.close()
    _report(settings, collectors, before, document, savepoints)
    return 0


def _mongo_user(settings, delta_values, timeout_s: float = 30) -> dict | None:
    """The c-1 user document as reaction-streaming wrote it, once it has caught up with the deltas."""
    from pymongo import MongoClient

    folded = [d for (coll, _), d in fold([AvroCodec().decode(v) for v in delta_values]).items()
              if coll == "users" and d.get("customer_id") == "c-1"]
    if not folded:
        return None
    deadline = time.monotonic() + timeout_s
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=5000) as client:
        users = client[settings.mongo_database]["users"]
        while time.monotonic() < deadline:
            doc = users.find_one({"customer_id": "c-1", "deleted": {"$ne": True}})
            if doc and doc.get("version", 0) >= folded[0]["version"]:
                return doc
            time.sleep(1)
    return None


def _report(settings, collectors, before, document, savepoints) -> None:
    codec = AvroCodec()
    new = {n: [codec.decode(v) for v in c.values[before[n]:]] for n, c in collectors.items()}
    print("4/4 done.")
    for name in OUTPUTS:
        print(f"    {settings.topic_prefix}{name:<18} {len(new[name]):>5} new records")
    reasons = Counter(r["reason"] for r in new["rejected"])
    print("    rejections by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
    if document:
        print(f"    the user document of customer c-1 (imported from customers.csv), as reaction-streaming wrote it to "
              f"MongoDB ({settings.mongo_database}.users):")
        for key in ("_id", "customer_id", "emails", "attributes", "first_seen", "last_seen", "version"):
            print(f"      {key}: {document.get(key)}")
    else:
        print("    (the c-1 user document did not reach MongoDB in time; see the reaction-streaming log)")
    print("    each job was stopped with a savepoint; replay one with `headwater run JOB --from-savepoint PATH`:")
    for name, path in savepoints.items():
        print(f"      {name:<20} {path}")
    print(f"""
Where to look:
  .venv/bin/headwater tail unified.actions --max 5      validated, consolidated actions
  .venv/bin/headwater tail rejected --max 5             refusals with reason codes and the original bytes
  .venv/bin/headwater tail state.deltas --max 5         idempotent set/unset/add_to_set/pull per user and device
  .venv/bin/headwater tail identity.profiles --max 5    user -> external ids
  MongoDB documents: {settings.mongo_uri} database {settings.mongo_database}, collections users and devices
  checkpoints under {settings.checkpoints}/<job> (MinIO at {settings.s3_endpoint}, user {settings.s3_access_key})
  .venv/bin/headwater status                            the local stack; `make down` stops it""")


if __name__ == "__main__":
    sys.exit(main())
