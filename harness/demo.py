"""`make demo`: the pipeline on the embedded Flink MiniCluster, against the local stack
(`make demo-cluster`, `--cluster`: submitted to the local Flink cluster of `headwater cluster up`).

Starts the four jobs, produces examples/api.jsonl and examples/bad.jsonl and imports
examples/customers.csv (event times moved up to now: harness/recent_examples.py), waits until the
outputs settle, then configures three destinations and sends profile computation messages (with a
duplicate) for the profiles action-streaming resolved, through `headwater produce --source compute`.
Prints what each topic holds, a few user documents as reaction-streaming wrote them to MongoDB, the
outbound events profile-dedupe sent, the savepoint each job stopped with, and where to look.
The stack stays up (`make down` stops it).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from cli.import_csv import import_csv
from cli.produce import produce_file
from cli.synthetic import WRITE_KEYS
from common import config
from common.log import configure as configure_logging
from common.log import get_logger
from common.serde.avro import AvroCodec
from common.topics import topic
from harness import recent_examples
from harness.jobs import RunningJob, SubmittedJob
from harness.kafka import Collector
from harness.models.mongo import fold

log = get_logger(__name__)

EXAMPLES = config.REPO_ROOT / "examples"
JOBS = ("api-unification", "action-streaming", "reaction-streaming", "profile-dedupe")
OUTPUTS = ("unified.actions", "rejected", "state.deltas", "events.enriched", "identity.profiles", "delivery.outbound")
DEMO_TENANT = "acme"
TIMEOUT_S = 240
JSONL_SAMPLES = ("api.jsonl", "bad.jsonl")


def _recent_examples(folder: Path) -> dict[str, Path]:
    """Copies of the sample files with their event times moved up to now (harness/recent_examples.py)."""
    folder.mkdir(parents=True, exist_ok=True)
    shift = recent_examples.shift_for(EXAMPLES / "api.jsonl", datetime.now(UTC))
    copies = {name: recent_examples.shifted_jsonl(EXAMPLES / name, folder / name, shift) for name in JSONL_SAMPLES}
    copies["customers.csv"] = recent_examples.shifted_csv(EXAMPLES / "customers.csv", folder / "customers.csv", shift)
    return copies


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    on_cluster = "--cluster" in args
    # Each job resumes from its newest checkpoint or savepoint (a second demo goes on from the first);
    # `--reset` starts them empty, e.g. after a change of code that no longer fits the old state.
    job_args = ["--reset"] if "--reset" in args else []
    settings = config.load()
    logs = settings.data_dir / "logs"
    collectors = {name: Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, name)) for name in OUTPUTS}
    before = {name: c.catch_up() for name, c in collectors.items()}  # records of earlier runs are not new
    sample_lines = sum(1 for line in (EXAMPLES / "api.jsonl").open() if line.strip())
    bad_lines = sum(1 for line in (EXAMPLES / "bad.jsonl").open() if line.strip())
    # A new audience per demo: a resumed profile-dedupe remembers what it sent for the earlier ones.
    audience = f"aud-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    destinations = _configure_destinations(settings, audience)
    where = (
        f"the local Flink cluster (web UI {settings.flink_rest})" if on_cluster else "the embedded Flink MiniCluster"
    )
    log.info(
        f"1/5 starting {', '.join(JOBS)} on {where} (logs in {logs}); "
        f"destinations: {', '.join(d.destination_id for d in destinations)}"
    )
    jobs = []
    try:
        for name in JOBS:
            if on_cluster:
                jobs.append(SubmittedJob(name, {}, logs / f"demo-cluster-{name}.log", *job_args))
                log.info(f"    submitted {name} as job {jobs[-1].job_id} ({jobs[-1].submit_s:.1f} s)")
            else:
                jobs.append(RunningJob(name, {}, logs / f"demo-{name}.log", *job_args))
        log.info("2/5 producing sample events, a few bad records, and a CSV import")
        recent = _recent_examples(settings.data_dir / "demo")
        produce_file(settings, "api", recent["api.jsonl"])
        produce_file(settings, "api", recent["bad.jsonl"])
        csv_rows, _refused = import_csv(
            settings, "acme", recent["customers.csv"], EXAMPLES / "customers.mapping.yaml", WRITE_KEYS["acme"]
        )
        expected_actions = sample_lines + csv_rows  # each valid line and row: a message (and links beside it)
        log.info("3/5 waiting for the outputs (they become visible when a checkpoint commits, every 2 s)")
        deadline, last_change, last = time.monotonic() + TIMEOUT_S, time.monotonic(), None
        while time.monotonic() < deadline:
            if not all(job.alive() for job in jobs):
                for job in jobs:
                    if not job.alive():
                        log.warning(f"demo: a job exited early: {_last_error(job.log)}")
                log.warning(f"demo: read the logs in {logs}; `make demo DEMO_ARGS=--reset` starts the jobs empty")
                return 1
            for c in collectors.values():
                c.poll_for(0.3)
            counts = tuple(len(c.values) - before[n] for n, c in collectors.items())
            if counts != last:
                last, last_change = counts, time.monotonic()
                log.info("    " + ", ".join(f"{n} {k}" for n, k in zip(OUTPUTS, counts)))
            elif (
                counts[0] >= expected_actions
                and counts[1] >= bad_lines
                and counts[2] > 0
                and time.monotonic() - last_change > 6
            ):
                break  # everything arrived and nothing changed for 3 checkpoints: settled
        else:
            log.warning(f"demo: no settled output within {TIMEOUT_S} s; read the logs in {logs}")
            return 1
        documents = _mongo_users(settings, collectors["state.deltas"].values)
        log.info("4/5 sending profile computation messages for the resolved profiles to profile-dedupe")
        expected_events = _send_compute_messages(
            settings, destinations, collectors["identity.profiles"].values, audience
        )  # every profile so far: users of an earlier demo are known to the resumed jobs
        outbound = collectors["delivery.outbound"]
        outbound.wait_for(before["delivery.outbound"] + expected_events, timeout=120, alive=jobs[-1].alive)
        savepoints = {}
        for name, job in zip(JOBS, jobs):  # as Ctrl-C on `headwater run` would
            savepoints[name] = job.stop_with_savepoint()
    finally:
        for job in jobs:
            job.kill()
        for c in collectors.values():
            c.close()
    _report(settings, collectors, before, documents, savepoints, on_cluster)
    return 0


def _last_error(job_log) -> str:
    lines = [line for line in job_log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("headwater: error:")]
    return (errors or lines or [f"no output in {job_log}"])[-1]


def _configure_destinations(settings, audience: str):
    """An email destination deduping on email, an SMS one deduping on phone, and a webhook with the
    legacy behaviour, all on `audience` (as `headwater destinations put` writes them)."""
    from cli.dedupe_config import put_destination

    return [
        put_destination(settings, DEMO_TENANT, "sendgrid", "email", [audience], "email", True),
        put_destination(settings, DEMO_TENANT, "twilio", "sms", [audience], "phone", True),
        put_destination(settings, DEMO_TENANT, "crm-hook", "webhook", [audience], None, True),
    ]


def _send_compute_messages(settings, destinations, profile_values, audience: str) -> int:
    """Every resolved profile of the demo tenant enters `audience`; the first message is sent twice (the
    compute pipeline may repeat itself). Returns how many outbound events the rules give."""
    import json

    from common.contracts.compute import message_from_json
    from common.contracts.profiles import profile_from_record
    from harness.dedupe import Scenario, expected_outbound

    codec = AvroCodec()
    profiles = {}
    for value in profile_values:
        if value is None:  # the tombstone after a deleted profile's record
            continue
        record = codec.decode(value)
        if record["tenant"] != DEMO_TENANT:
            continue
        if record["merged_into"] or record["deleted"]:  # the latest record of a user decides
            profiles.pop(record["user_id"], None)
        else:
            profiles[record["user_id"]] = profile_from_record(record)[1]
    lines = [
        {
            "tenant": DEMO_TENANT,
            "message_id": f"demo-{audience}-{profile_id}",
            "computation_id": audience,
            "computation_kind": "audience",
            "profile_id": profile_id,
            "value": "entered",
            "trigger": "value_changed",
            "event_time_ms": 1_793_600_000_000,
        }
        for profile_id in sorted(profiles)
    ]
    lines.append(lines[0])
    path = settings.data_dir / "demo" / "compute.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    produce_file(settings, "compute", path)
    scenario = Scenario(
        destinations,
        [(DEMO_TENANT, p, ids) for p, ids in profiles.items()],
        [message_from_json(line) for line in lines],
    )
    return len(expected_outbound(scenario))


def _mongo_users(settings, delta_values, timeout_s: float = 30) -> list[dict]:
    """A few user documents as reaction-streaming wrote them (c-1 from the CSV import first), once
    MongoDB has caught up with the deltas."""
    from pymongo import MongoClient

    folded = [
        d
        for (coll, _), d in fold([AvroCodec().decode(v) for v in delta_values]).items()
        if coll == "users" and d.get("customer_id") == "c-1"
    ]
    if not folded:
        return []
    deadline = time.monotonic() + timeout_s
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=5000) as client:
        users = client[settings.mongo_database]["users"]
        while time.monotonic() < deadline:
            doc = users.find_one({"customer_id": "c-1", "deleted": {"$ne": True}})
            if doc and doc.get("version", 0) >= folded[0]["version"]:
                others = (
                    users.find({"customer_id": {"$nin": ["c-1", None]}, "deleted": {"$ne": True}})
                    .sort("customer_id")
                    .limit(2)
                )
                return [doc, *others]
            time.sleep(1)
    return []


def _report(settings, collectors, before, documents, savepoints, on_cluster) -> None:
    codec = AvroCodec()
    # (a None value is a tombstone: the key of a deleted profile)
    new = {n: [codec.decode(v) for v in c.values[before[n] :] if v is not None] for n, c in collectors.items()}
    log.info("5/5 done.")
    for name in OUTPUTS:
        log.info(f"    {settings.topic_prefix}{name:<18} {len(new[name]):>5} new records")
    reasons = Counter(r["reason"] for r in new["rejected"])
    log.info("    rejections by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
    if documents:
        log.info(
            f"    {len(documents)} user documents (c-1 was imported from customers.csv), as reaction-streaming wrote "
            f"them to MongoDB ({settings.mongo_database}.users):"
        )
        for document in documents:
            log.info(
                "      "
                + ", ".join(
                    f"{key}: {document.get(key)}"
                    for key in ("_id", "customer_id", "emails", "attributes", "first_seen", "last_seen", "version")
                    if document.get(key) not in (None, [], {})
                )
            )
    else:
        log.info("    (the c-1 user document did not reach MongoDB in time; see the reaction-streaming log)")
    sent = new["delivery.outbound"]
    if sent:
        log.info(
            f"    profile-dedupe sent {len(sent)} outbound events for {len({r['message_id'] for r in sent})} "
            f"messages (one per ID group; the repeated message was not sent again), e.g.:"
        )
        shown = {tuple(r["destinations"]): r for r in reversed(sent)}  # one per kind of ID group
        for record in sorted(shown.values(), key=lambda r: r["destinations"])[:4]:
            ids = ", ".join(f"{i['type']}={i['value']}" for i in record["external_ids"])
            log.info(f"      {record['profile_id']} -> {', '.join(record['destinations'])}: {ids}")
    replay = "headwater replay JOB --from-savepoint PATH" if on_cluster else "headwater run JOB --from-savepoint PATH"
    log.info(
        f"    each job was stopped with a savepoint; the next `make demo` resumes from it, or replay one "
        f"with `{replay}`:"
    )
    for name, path in savepoints.items():
        log.info(f"      {name:<20} {path}")
    log.info(f"""
Where to look:
  .venv/bin/headwater tail unified.actions --max 5      validated messages, one record per identifier
  .venv/bin/headwater tail rejected --max 5             refusals with reason codes and the original bytes
  .venv/bin/headwater tail state.deltas --max 5         idempotent set/unset/add_to_set/pull per user and device
  .venv/bin/headwater tail identity.profiles --max 5    user -> external ids
  .venv/bin/headwater tail delivery.outbound --max 5    deduplicated outbound events, one per ID group
  .venv/bin/headwater destinations list                 the destinations profile-dedupe sends to
  MongoDB documents: {settings.mongo_uri} database {settings.mongo_database}, collections users and devices
  checkpoints under {settings.checkpoints}/<job> (MinIO at {settings.s3_endpoint}, user {settings.s3_access_key})
  .venv/bin/headwater status                            the local stack; `make down` stops it""")
    if on_cluster:
        log.info(
            "  .venv/bin/headwater cluster status                    the local Flink cluster "
            f"(web UI {settings.flink_rest});\n"
            "                                                        `headwater cluster down` stops it, "
            "`headwater jobs` lists jobs"
        )


if __name__ == "__main__":
    configure_logging()
    sys.exit(main())
