"""`make demo`: the pipeline on the embedded Flink MiniCluster, against the local stack
(`make demo-cluster`, `--cluster`: submitted to the local Flink cluster of `headwater cluster up`).

Starts the five jobs, produces examples/api.jsonl and examples/bad.jsonl and imports
examples/customers.csv (event times moved up to now: harness/recent_examples.py) and waits until the
outputs settle. Then it closes the loop: it puts an audience (`headwater audiences put`), which
audience-computation judges the users it holds by; the members' messages reach profile-dedupe, which
sends one outbound event per ID group to three destinations. A member then gains an email (a
new_external_id that the email destination, already messaged, does not get again) and moves to the free
plan (an exit, recorded, sent nowhere). Prints that chain, what each topic holds, a few user documents as
reaction-streaming wrote them to MongoDB, the savepoint each job stopped with, and where to look.
The stack stays up (`make down` stops it).
"""

from __future__ import annotations

import json
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
JOBS = ("api-unification", "action-streaming", "reaction-streaming", "audience-computation", "profile-dedupe")
OUTPUTS = (
    "unified.actions",
    "rejected",
    "state.deltas",
    "events.enriched",
    "identity.profiles",
    "compute.output",
    "delivery.outbound",
)
# The demo's audience: on the pro plan, with a purchase in the last 30 days (docs/audiences.md).
DEMO_AUDIENCE = {"all": [{"attribute": "plan", "equals": "pro"}, {"event": "purchased", "at_least": 1, "days": 30}]}
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
        log.info(f"4/5 closing the loop: audience {audience} = {json.dumps(DEMO_AUDIENCE)}")
        try:
            chain = _audience_chain(settings, collectors, before, audience, jobs)
        except DemoError as exc:
            log.warning(f"demo: {exc}; read the logs in {logs}")
            return 1
        savepoints = {}
        for name, job in zip(JOBS, jobs):  # as Ctrl-C on `headwater run` would
            savepoints[name] = job.stop_with_savepoint()
    finally:
        for job in jobs:
            job.kill()
        for c in collectors.values():
            c.close()
    _report(settings, collectors, before, documents, savepoints, on_cluster, chain)
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


def _audience_messages(collectors, before, audience: str) -> list[dict]:
    codec = AvroCodec()
    compute = collectors["compute.output"]
    compute.poll_for(0.5)
    return [
        m
        for m in (codec.decode(v) for v in compute.values[before["compute.output"] :])
        if m["computation_id"] == audience
    ]


def _wait_for(collectors, before, audience: str, jobs, found, what: str, timeout: float = 120) -> list[dict]:
    """Until `found(messages of the audience)` is true, and then a few quiet seconds more."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(job.alive() for job in jobs):
        messages = _audience_messages(collectors, before, audience)
        if found(messages):
            time.sleep(4)  # the rest of the same checkpoint, and profile-dedupe's answer
            for c in collectors.values():
                c.poll_for(0.5)
            return _audience_messages(collectors, before, audience)
    raise DemoError(f"no {what} within {timeout:.0f} s; read the logs in {collectors['compute.output']}")


class DemoError(RuntimeError):
    pass


def _customer_ids(settings, collectors) -> dict[str, str]:
    """user id -> customer_id of the demo tenant (hw.identity.profiles, latest record per user)."""
    codec, out = AvroCodec(), {}
    collectors["identity.profiles"].poll_for(0.5)
    for value in collectors["identity.profiles"].values:
        if value is None:
            continue
        record = codec.decode(value)
        for external in record["external_ids"] if record["tenant"] == DEMO_TENANT else ():
            if external["type"] == "customer_id":
                out[record["user_id"]] = external["value"]
    return out


def _audience_chain(settings, collectors, before, audience: str, jobs) -> dict:
    """Put the audience; wait for its members; give one a new email, then move it to the free plan."""
    from cli.audiences import put_audience

    put_audience(settings, DEMO_TENANT, audience, json.dumps(DEMO_AUDIENCE))
    entered = _wait_for(
        collectors, before, audience, jobs, lambda ms: any(m["value_json"] == '"entered"' for m in ms), "member"
    )
    customers = _customer_ids(settings, collectors)
    members = sorted(
        m["profile_id"] for m in entered if m["value_json"] == '"entered"' and m["profile_id"] in customers
    )
    if not members:
        raise DemoError(f"the members of {audience} have no customer_id in {DEMO_TENANT}'s profiles")
    member = members[0]
    customer = customers[member]
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    email = f"{customer}.new@example.com"
    follow_up = settings.data_dir / "demo" / "follow-up.jsonl"

    def send(*lines: dict) -> None:
        follow_up.write_text(
            "".join(json.dumps({"write_key": WRITE_KEYS[DEMO_TENANT], **line}) + "\n" for line in lines)
        )
        produce_file(settings, "api", follow_up)

    ids = {"tenant": DEMO_TENANT, "customer_id": customer, "timestamp": now}
    send({**ids, "type": "identify", "email": email, "attributes": {"plan": "pro"}, "message_id": f"{audience}-email"})
    _wait_for(
        collectors,
        before,
        audience,
        jobs,
        lambda ms: any(m["trigger"] == "new_external_id" and m["profile_id"] == member for m in ms),
        f"new_external_id for {member}",
    )
    send(
        {**ids, "type": "identify", "attributes": {"plan": "free"}, "message_id": f"{audience}-free"},
        {**ids, "type": "track", "event": "app_opened", "message_id": f"{audience}-opened"},
    )
    messages = _wait_for(
        collectors,
        before,
        audience,
        jobs,
        lambda ms: any(m["value_json"] == '"exited"' and m["profile_id"] == member for m in ms),
        f"the exit of {member}",
    )
    return {"audience": audience, "member": member, "customer": customer, "email": email, "messages": messages}


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


def _report_chain(outbound: list[dict], chain: dict) -> None:
    """The loop, as it happened: who entered, what profile-dedupe sent, the duplicate, the exit."""
    audience, member, messages = chain["audience"], chain["member"], chain["messages"]
    sent = [r for r in outbound if r["computation_id"] == audience]
    entered = [m for m in messages if m["trigger"] == "value_changed" and m["value_json"] == '"entered"']
    log.info(
        f"    the loop for audience {audience}: {len(entered)} users entered it (audience-computation, "
        f"trigger value_changed, on hw.compute.output); profile-dedupe sent {len(sent)} outbound events, one "
        "per ID group, e.g.:"
    )
    shown = {tuple(r["destinations"]): r for r in reversed(sent) if r["profile_id"] == member}
    for record in sorted(shown.values(), key=lambda r: r["destinations"]):
        ids = ", ".join(f"{i['type']}={i['value']}" for i in record["external_ids"])
        log.info(f"      {record['profile_id']} -> {', '.join(record['destinations'])}: {ids}")
    new_id = [m for m in messages if m["trigger"] == "new_external_id" and m["profile_id"] == member]
    after = [r for r in sent if r["profile_id"] == member and r["message_id"] in {m["message_id"] for m in new_id}]
    emailed = sorted({d for r in after for d in r["destinations"]})
    log.info(
        f"    {member} (customer {chain['customer']}) gained the email {chain['email']}: audience-computation sent "
        f"new_external_id; profile-dedupe sent it to {', '.join(emailed) or 'no destination'} (sendgrid, which "
        "dedupes on email, had already messaged the user: not sent twice)"
    )
    exited = [m for m in messages if m["value_json"] == '"exited"' and m["profile_id"] == member]
    log.info(
        f"    {member} moved to the free plan: audience-computation sent exited ({len(exited)} message); "
        "profile-dedupe recorded the exit and sent nothing (branch value_changed.exited.drop)"
    )


def _report(settings, collectors, before, documents, savepoints, on_cluster, chain) -> None:
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
    _report_chain(new["delivery.outbound"], chain)
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
  .venv/bin/headwater tail compute.output --max 5       audience-computation's enter/exit messages with their trigger
  .venv/bin/headwater tail delivery.outbound --max 5    deduplicated outbound events, one per ID group
  .venv/bin/headwater audiences list                    the audiences audience-computation keeps
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
