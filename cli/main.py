"""`headwater`: the command line of Headwater. Run `headwater --help`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.variables import epilog
from common import config
from common.log import configure as configure_logging
from common.log import get_logger

log = get_logger(__name__)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="headwater",
        description="Stateful PyFlink jobs that turn raw customer events into exactly-once customer state.",
        epilog=epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="start the local stack (Kafka, FerretDB, MinIO) and create topics and bucket")
    up.add_argument(
        "--partitions", type=_positive, help="partitions per topic created (default: $HEADWATER_PARTITIONS or 4)"
    )
    sub.add_parser("down", help="stop the processes `headwater up` started")
    sub.add_parser("status", help="print each local service with its address and state")

    run_help = (
        "run a job on the embedded Flink MiniCluster (blocks; Ctrl-C or SIGTERM stops it with a savepoint "
        "and prints `savepoint: PATH`). It resumes from its newest retained checkpoint or savepoint, "
        "and refuses to start empty over a consumer group that has progress (--reset does that on purpose)"
    )
    run = sub.add_parser("run", help=run_help, description=run_help)
    from jobs.registry import JOBS

    run.add_argument("job", help=f"one of: {', '.join(JOBS)}")
    run.add_argument("--parallelism", type=_positive, help="operator parallelism (default from flink-conf)")
    _add_start_options(run)

    cluster = sub.add_parser(
        "cluster", help="a local Flink standalone cluster (JobManager + TaskManagers) at $HEADWATER_FLINK"
    )
    cluster_sub = cluster.add_subparsers(dest="action", required=True, metavar="ACTION")
    cup = cluster_sub.add_parser(
        "up", help="start it (idempotent); checkpoints and savepoints go to $HEADWATER_CHECKPOINTS"
    )
    cup.add_argument(
        "--taskmanagers",
        type=_positive,
        default=2,
        help="TaskManager processes; each runs its own Python interpreter (default 2)",
    )
    cup.add_argument("--slots", type=_positive, default=4, help="task slots per TaskManager (default 4)")
    cup.add_argument("--memory", default="2048m", help="process memory per TaskManager (default 2048m)")
    cup.add_argument(
        "--bind",
        metavar="ADDRESS",
        help="bind and advertise this IP address of the host instead of 127.0.0.1, for TaskManagers or "
        "clients on other hosts (set HEADWATER_FLINK=http://ADDRESS:PORT too; docs/operations.md)",
    )
    cluster_sub.add_parser("down", help="stop it (running jobs end; resume them from their last checkpoint)")
    cluster_sub.add_parser("status", help="print its processes, web UI address and running jobs")

    cluster_help = "Flink REST address (default $HEADWATER_FLINK: the local cluster)"
    submit_help = (
        "submit a job to a Flink cluster and wait until it runs; like `run`, it resumes from the job's "
        "newest retained checkpoint or savepoint unless told otherwise. It ships the code and its pinned "
        "dependencies with the job: the TaskManagers need only Flink and a Python 3.11 with PyFlink "
        "($HEADWATER_CLUSTER_PYTHON, default this venv's python)"
    )
    submit = sub.add_parser("submit", help=submit_help, description=submit_help)
    submit.add_argument("job", help=f"one of: {', '.join(JOBS)}")
    submit.add_argument("--cluster", metavar="URL", help=cluster_help)
    submit.add_argument("--parallelism", type=_positive, help="operator parallelism (default from flink-conf)")
    _add_start_options(submit)

    jobs = sub.add_parser("jobs", help="list the cluster's jobs with their state and last checkpoint")
    jobs.add_argument("--cluster", metavar="URL", help=cluster_help)
    jobs.add_argument("--all", action="store_true", help="also finished, cancelled and failed jobs")

    sp = sub.add_parser("savepoint", help="take a savepoint of a running job (it keeps running); prints the path")
    sp.add_argument("job", help="job name (e.g. profile-dedupe) or job id")
    sp.add_argument("--cluster", metavar="URL", help=cluster_help)

    stop = sub.add_parser(
        "stop",
        help="stop a running job: with --savepoint, gracefully, printing "
        "`savepoint: PATH`; without, cancel it (its last checkpoint stays)",
    )
    stop.add_argument("job", help="job name (e.g. profile-dedupe) or job id")
    stop.add_argument("--savepoint", action="store_true", help="stop with a savepoint (what a replay starts from)")
    stop.add_argument("--cluster", metavar="URL", help=cluster_help)

    replay_help = (
        "run a job again from a savepoint on the cluster, replacing the copy running now: outputs "
        "after the savepoint are produced again, the same way (docs/operations.md)"
    )
    replay = sub.add_parser("replay", help=replay_help, description=replay_help)
    replay.add_argument("job", help=f"one of: {', '.join(JOBS)}")
    replay.add_argument(
        "--from-savepoint", metavar="PATH", required=True, help="the savepoint (or retained checkpoint) to start from"
    )
    replay.add_argument("--parallelism", type=_positive, help="operator parallelism (may differ from the savepoint's)")
    replay.add_argument("--cluster", metavar="URL", help=cluster_help)

    produce_help = (
        "write records to an ingest topic (hw.ingest.<source>) from a JSON-lines file or a seeded "
        "generator, or profile computation messages from a file to hw.compute.output"
    )
    produce = sub.add_parser("produce", help=produce_help, description=produce_help)
    produce.add_argument(
        "--source",
        required=True,
        choices=["sdk", "api", "partner", "csv", "compute"],
        help="hw.ingest.<source>, or compute: hw.compute.output (each line is checked first, "
        "see docs/profile-dedupe.md)",
    )
    what = produce.add_mutually_exclusive_group(required=True)
    what.add_argument("--file", type=Path, help="JSON-lines file, one record per line")
    what.add_argument(
        "--generate",
        type=_positive,
        metavar="N",
        help="N synthetic records (sdk: batches of --events events) from the generator",
    )
    produce.add_argument(
        "--seed",
        type=int,
        default=1,
        help="generator seed: same seed, byte-identical records (times from a fixed epoch, 2026-11-01, which is "
        "also their Kafka timestamp; default 1)",
    )
    produce.add_argument(
        "--now", action="store_true", help="generator: times from now instead of the fixed epoch (live traffic)"
    )
    produce.add_argument(
        "--tenants", type=lambda text: tuple(t for t in text.split(",") if t), help="generator: only these tenants"
    )
    produce.add_argument("--users", type=_positive, default=500, help="generator: distinct users (default 500)")
    produce.add_argument("--events", type=_positive, default=10, help="generator: events per SDK batch (default 10)")
    produce.add_argument(
        "--invalid-share",
        type=float,
        default=0.0,
        metavar="F",
        help="generator: share of malformed records, 0-1 (default 0)",
    )
    produce.add_argument(
        "--rate", type=float, metavar="R", help="at most R records a second (default: as fast as Kafka takes them)"
    )

    imp = sub.add_parser("import-csv", help="send CSV rows as attribute updates or events to hw.ingest.csv")
    imp.add_argument("--tenant", required=True, help="the tenant the rows belong to")
    imp.add_argument(
        "--write-key",
        metavar="KEY",
        help="the tenant's write key (default: HEADWATER_WRITE_KEY; the variable keeps it out of `ps`)",
    )
    imp.add_argument("--file", required=True, type=Path, help="CSV file with a header row")
    imp.add_argument(
        "--mapping",
        required=True,
        type=Path,
        help="YAML mapping of columns to identifiers, attributes or event (docs/ingest-formats.md)",
    )

    keys = sub.add_parser("write-key", help="make a tenant write key, or hash one for the tenants file")
    keys_sub = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    keys_sub.add_parser("new", help="print a new random write key and the line to add to the tenant's write_keys")
    keys_sub.add_parser("hash", help="read write keys from standard input, one per line; print each one's hash")

    dest = sub.add_parser(
        "destinations",
        help="manage profile-dedupe's destination instances (applies to a running job without a restart)",
    )
    dest_sub = dest.add_subparsers(dest="action", required=True, metavar="ACTION")
    put = dest_sub.add_parser("put", help="create or replace a destination instance")
    put.add_argument("--tenant", required=True)
    put.add_argument("--id", required=True, dest="destination_id", help="destination instance id")
    put.add_argument("--kind", required=True, help="email, sms, push, webhook or ads_list")
    put.add_argument(
        "--computations", required=True, help="comma-separated computation ids (audiences, traits) connected to it"
    )
    put.add_argument(
        "--dedupes-on",
        help="external id type to dedupe on (e.g. email, phone); omitted: legacy behaviour, all ids on every update",
    )
    put.add_argument("--disabled", action="store_true", help="keep it configured but send it nothing")
    listing = dest_sub.add_parser("list", help="print the current destination instances")
    listing.add_argument("--tenant", help="only this tenant's")
    delete = dest_sub.add_parser("delete", help="remove a destination instance")
    delete.add_argument("--tenant", required=True)
    delete.add_argument("--id", required=True, dest="destination_id")

    audiences = sub.add_parser(
        "audiences",
        help="manage each tenant's audience definitions (hw.audiences.config, for audience-computation)",
    )
    audiences_sub = audiences.add_subparsers(dest="action", required=True, metavar="ACTION")
    put = audiences_sub.add_parser(
        "put",
        help="create or replace an audience: a condition over user attributes and recent events",
        description="The condition is JSON, or @FILE: "
        '{"all": [...]}, {"any": [...]}, {"not": ...}, {"attribute": A, "equals": V}, {"attribute": A, "in": [...]}, '
        '{"attribute": A, "min": X, "max": Y}, {"attribute": A, "exists": true}, '
        '{"event": E, "at_least": K, "days": D}, {"event": E, "none_in_days": D} (docs/audiences.md).',
    )
    put.add_argument("--tenant", required=True)
    put.add_argument("--id", required=True, dest="audience_id", help="audience id (a computation id downstream)")
    put.add_argument("--condition", required=True, help="the condition as JSON, or @FILE")
    listing = audiences_sub.add_parser("list", help="print the current audience definitions")
    listing.add_argument("--tenant", help="only this tenant's")
    delete = audiences_sub.add_parser("delete", help="remove an audience")
    delete.add_argument("--tenant", required=True)
    delete.add_argument("--id", required=True, dest="audience_id")

    rollout = sub.add_parser("rollout", help="profile-dedupe's rollout levers: flag, gate, comparator")
    rollout_sub = rollout.add_subparsers(dest="action", required=True, metavar="ACTION")
    rollout_sub.add_parser("show", help="print the current levers")
    rset = rollout_sub.add_parser("set", help="change some levers (the others keep their value)")
    rset.add_argument("--percent", type=int, help="flag: run the dedupe path for this share of profiles (0-100)")
    off = rset.add_mutually_exclusive_group()
    off.add_argument(
        "--emergency-off",
        action="store_true",
        default=None,
        help="turn the dedupe path off for everyone (legacy output is sent)",
    )
    off.add_argument("--emergency-clear", action="store_false", dest="emergency_off", help="undo --emergency-off")
    rset.add_argument("--comparator", choices=["on", "off"], help="compare both paths where the new one runs")
    rset.add_argument("--tier", action="append", metavar="TENANT=TIER", help="put a tenant in a tier (repeatable)")
    rset.add_argument(
        "--gate", action="append", metavar="TIER=new|legacy", help="which path's output a tier is sent (repeatable)"
    )
    rset.add_argument("--default-tier", help="tier of tenants not listed with --tier")
    rset.add_argument("--default-path", choices=["new", "legacy"], help="path for tiers without a gate")

    profile = sub.add_parser("profile", help="a user's MongoDB document, found by any of its identifiers")
    profile_sub = profile.add_subparsers(dest="action", required=True, metavar="ACTION")
    get = profile_sub.add_parser(
        "get",
        help="print the user's document and its devices' documents, times in ISO 8601 (exit 1: no such user)",
    )
    get.add_argument("--tenant", required=True, help="the user's tenant")
    get.add_argument(
        "--id",
        required=True,
        dest="identifier",
        metavar="ID",
        help="any of the user's identifiers: user id, customer id, email, phone, anonymous id or device id",
    )

    top_help = (
        "a live page of every running job, wherever it runs (MiniCluster or cluster): state, records/s in "
        "and out, consumer lag per topic, last checkpoint, back-pressure, freshness; read from the jobs' "
        "Prometheus endpoints (HEADWATER_METRICS_PORTS) and Kafka's end offsets"
    )
    top = sub.add_parser("top", help=top_help, description=top_help)
    top.add_argument("--once", action="store_true", help="print one page and exit (for scripts and logs)")
    top.add_argument("--interval", type=float, default=2.0, help="seconds between two reads (default 2)")
    k8s_help = (
        "FlinkDeployment manifests for the Flink Kubernetes operator, one per job (upgrade mode last-state, "
        "checkpoints and HA on S3; docs/operations.md)"
    )
    k8s = sub.add_parser("k8s", help=k8s_help, description=k8s_help)
    k8s_sub = k8s.add_subparsers(dest="action", required=True, metavar="ACTION")
    render = k8s_sub.add_parser("render", help="write headwater-<job>.yaml for each job into --out")
    render.add_argument("--image", required=True, help="an image with Flink 2.2, Python 3.11 and Headwater installed")
    render.add_argument("--out", type=Path, required=True, help="the folder to write the manifests to")
    render.add_argument("--namespace", default="default", help="the jobs' namespace (default: default)")
    render.add_argument("--parallelism", type=_positive, default=2, help="each job's parallelism (default 2)")
    trace_help = (
        "where one message went, in time order: its ingest record, the action or its refusals, the deltas "
        "and the MongoDB documents that hold them, enriched events, identity profiles"
    )
    trace = sub.add_parser("trace", help=trace_help, description=trace_help)
    trace.add_argument("--tenant", required=True, help="the message's tenant")
    trace.add_argument("--message-id", required=True, help="the message id its producer gave it")
    trace.add_argument(
        "--since",
        metavar="TIME",
        type=_instant,
        help="read the topics from this time (ISO 8601 or epoch ms; default: 24 hours ago): every record "
        "carries its ingest time, so the message's trail starts at or after its arrival",
    )
    tail = sub.add_parser("tail", help="print committed records of a topic (decodes Avro values)")
    tail.add_argument("topic", help="topic suffix (e.g. skeleton.envelopes) or full name")
    tail.add_argument("--max", type=int, default=10, help="stop after this many records (default 10)")
    tail.add_argument("--timeout", type=float, default=5.0, help="stop after this many idle seconds (default 5)")
    _add_rejected(sub, JOBS)
    return p


def _add_rejected(sub, jobs) -> None:
    rejected = sub.add_parser("rejected", help="list, show and redrive the records on hw.rejected (docs/operations.md)")
    actions = rejected.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the rejections that match, one line each, with their position P:O")
    shown = actions.add_parser("show", help="one rejection whole: detail, path, parts, the refused part, the original")
    shown.add_argument("position", metavar="P:O", help="partition:offset, as `headwater rejected list` prints it")
    again = actions.add_parser(
        "redrive",
        help="send the originals of the matching rejections again, exactly once, to the topic the refusing "
        "job reads (after a fix), and report what happened to each",
    )
    for parser in (listing, again):
        parser.add_argument("--job", choices=sorted(jobs), help="refused by this job")
        parser.add_argument("--reason", help="this reason code (e.g. WRITE_KEY_REFUSED)")
        parser.add_argument("--tenant", help="filed under this tenant")
        parser.add_argument("--since", metavar="TIME", type=_instant, help="refused at or after TIME (ISO 8601 or ms)")
        parser.add_argument("--until", metavar="TIME", type=_instant, help="refused before TIME")
    listing.add_argument("--max", type=_positive, default=50, help="print at most this many (default 50)")
    again.add_argument("--dry-run", action="store_true", help="say what would be sent, send nothing")
    again.add_argument(
        "--wait",
        type=float,
        default=30.0,
        help="seconds to wait for each api-unification redrive's outcome (default 30; 0: do not wait)",
    )


def _add_start_options(parser: argparse.ArgumentParser) -> None:
    """Where `run` and `submit` start: by default the job's newest checkpoint or savepoint."""
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--from-savepoint",
        metavar="PATH",
        help="restore this savepoint or retained checkpoint (s3://... or file://...) instead of the newest",
    )
    start.add_argument(
        "--reset",
        action="store_true",
        help="start with empty state on purpose: deletes the job's consumer groups, so it reads its topics "
        "again from the beginning (or --reset-to); its earlier checkpoints stay for --from-savepoint",
    )
    parser.add_argument(
        "--reset-to",
        metavar="TIME",
        type=_instant,
        help="with --reset: read from this time instead (ISO 8601, e.g. 2026-11-30T08:00:00Z, UTC when no "
        "zone is given; or epoch milliseconds); compacted config topics are still read whole",
    )


def _instant(text: str) -> int:
    """Epoch milliseconds from `text`: an ISO 8601 time (UTC unless it names a zone) or a number of ms."""
    from datetime import UTC, datetime

    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: give ISO 8601 (2026-11-30T08:00:00Z) or epoch milliseconds"
        ) from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = _parser().parse_args(argv)
    try:
        settings = config.load()
        return _dispatch(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line that says what to fix
        from cli.errors import explain

        message = explain(exc)
        if message is None:
            raise
        log.error(f"headwater: error: {message}")
        return 1


def _dispatch(args: argparse.Namespace, settings: config.Settings) -> int:
    if args.command == "up":
        from infra.stack import control

        log.info(f"starting the local stack (data under {settings.data_dir})")
        from infra.stack.services import PARTITIONS

        elapsed = control.up(settings, args.partitions or PARTITIONS.read())
        log.info(f"ready in {elapsed:.1f} s")
        return 0
    if args.command == "down":
        from infra.stack import control

        control.down(settings)
        return 0
    if args.command == "status":
        from infra.stack import control

        rows = control.status(settings)
        log.info(f"{'SERVICE':<9} {'ADDRESS':<17} {'STATE':<28} {'PID':<8} LOG")
        for r in rows:
            log.info(f"{r.name:<9} {r.address:<17} {r.state:<28} {str(r.pid or '-'):<8} {r.log}")
        return 0 if all(r.state == "running" for r in rows) else 3
    if args.command == "run":
        from cli.operations import where_to_start
        from jobs import registry

        registry.job_module(args.job)  # fail fast on a wrong name, before starting Flink
        restore_from, settings = where_to_start(settings, args)
        registry.run(args.job, settings, parallelism=args.parallelism, restore_from=restore_from)
        return 0
    if args.command in ("cluster", "submit", "jobs", "savepoint", "stop", "replay"):
        return _operate(args, settings)
    if args.command == "produce":
        from cli.produce import ProduceError, produce_file, produce_generated

        if args.file is not None:
            produce_file(settings, args.source, args.file, rate=args.rate)
        else:
            if not 0 <= args.invalid_share <= 1:
                raise ProduceError(f"--invalid-share {args.invalid_share:g}: give a share between 0 and 1")
            produce_generated(
                settings,
                args.source,
                args.generate,
                seed=args.seed,
                users=args.users,
                events=args.events,
                invalid_share=args.invalid_share,
                rate=args.rate,
                tenants=args.tenants,
                now=args.now,
            )
        return 0
    if args.command == "import-csv":
        from cli.import_csv import import_csv

        _sent, refused = import_csv(settings, args.tenant, args.file, args.mapping, args.write_key)
        return 2 if refused else 0
    if args.command == "write-key":
        from common.contracts.tenants import hash_write_key, new_write_key

        keys = [new_write_key()] if args.action == "new" else [line.strip() for line in sys.stdin if line.strip()]
        for key in keys:
            if args.action == "new":
                log.info(f"write key: {key}  (give it to the tenant's producers; it is not stored anywhere)")
            log.info(f'write_keys entry: "{hash_write_key(key)}"')
        return 0
    if args.command == "destinations":
        from cli import dedupe_config

        if args.action == "put":
            d = dedupe_config.put_destination(
                settings,
                args.tenant,
                args.destination_id,
                args.kind,
                args.computations.split(","),
                args.dedupes_on,
                not args.disabled,
            )
            log.info(
                f"destination {d.key} written ({d.kind}, dedupes on {d.dedupes_on or 'nothing: legacy'}, "
                f"computations {', '.join(d.computations)}{', disabled' if not d.enabled else ''})"
            )
        elif args.action == "delete":
            dedupe_config.delete_destination(settings, args.tenant, args.destination_id)
            log.info(f"destination {args.tenant}:{args.destination_id} deleted")
        else:
            found = dedupe_config.list_destinations(settings, args.tenant)
            log.info(f"{'TENANT':<12} {'ID':<20} {'KIND':<9} {'DEDUPES_ON':<12} {'ENABLED':<8} COMPUTATIONS")
            for d in found:
                log.info(
                    f"{d.tenant:<12} {d.destination_id:<20} {d.kind:<9} {d.dedupes_on or '-':<12} "
                    f"{'yes' if d.enabled else 'no':<8} {','.join(d.computations)}"
                )
        return 0
    if args.command == "audiences":
        from cli import audiences

        if args.action == "put":
            audience = audiences.put_audience(settings, args.tenant, args.audience_id, args.condition)
            log.info(f"audience {audience.key} written")
        elif args.action == "delete":
            audiences.delete_audience(settings, args.tenant, args.audience_id)
            log.info(f"audience {args.tenant}:{args.audience_id} deleted")
        else:
            log.info(f"{'TENANT':<12} {'ID':<20} CONDITION")
            for tenant, audience_id, condition in audiences.list_audiences(settings, args.tenant):
                log.info(f"{tenant:<12} {audience_id:<20} {condition}")
        return 0
    if args.command == "rollout":
        from cli import dedupe_config

        if args.action == "set":
            current = dedupe_config.set_rollout(
                settings,
                percent=args.percent,
                emergency_off=args.emergency_off,
                comparator=None if args.comparator is None else args.comparator == "on",
                tiers=args.tier,
                gates=args.gate,
                default_tier=args.default_tier,
                default_path=args.default_path,
            )
        else:
            current = dedupe_config.current_rollout(settings)
        log.info(dedupe_config.describe_rollout(current))
        return 0
    if args.command == "rejected":
        return _rejected(args, settings)
    if args.command == "profile":
        import json

        from cli.profile import get

        for user in get(settings, args.tenant, args.identifier):
            log.info(json.dumps(user, indent=2, ensure_ascii=False, default=str))
        return 0
    if args.command == "k8s":
        from infra.k8s import render
        from jobs.registry import JOBS, NOT_DEPLOYED

        jobs = [job for job in sorted(JOBS) if job not in NOT_DEPLOYED]
        for path in render(
            settings, jobs, args.out, image=args.image, namespace=args.namespace, parallelism=args.parallelism
        ):
            log.info(f"wrote {path}")
        return 0
    if args.command == "trace":
        import time

        from cli.trace import NothingTraced, render, trace

        since = args.since if args.since is not None else int(time.time() * 1000) - 24 * 3_600_000
        steps = trace(settings, args.tenant, args.message_id, since)
        if not steps:
            raise NothingTraced(
                f"no record of message {args.message_id!r} of tenant {args.tenant!r} on "
                f"{settings.topic_prefix}* since {since} ms: check the id, or look further back with --since"
            )
        for line in render(steps):
            log.info(line)
        return 0
    if args.command == "top":
        return _top(settings, args.once, args.interval)
    if args.command == "tail":
        from cli.tail import read_committed, render
        from common.serde.avro import AvroCodec

        name = args.topic if args.topic.startswith(settings.topic_prefix) else settings.topic_prefix + args.topic
        codec = AvroCodec()
        for _key, value in read_committed(settings, name, max_records=args.max, idle_timeout=args.timeout):
            log.info(render(value, codec))
        return 0
    raise AssertionError(args.command)


def _top(settings: config.Settings, once: bool, interval: float) -> int:
    from cli.top import snapshot, table

    if not settings.metrics_ports:
        raise config.ConfigError("HEADWATER_METRICS_PORTS is empty: the jobs serve no metrics to read")
    if interval <= 0:
        raise config.ConfigError(f"--interval {interval:g}: give a positive number of seconds")
    if once:
        rows, names = snapshot(settings, interval)
        if not rows:
            log.info(f"no job serves metrics on 127.0.0.1:{settings.metrics_ports} (is one running?)")
            return 0
        from io import StringIO

        from rich.console import Console

        out = StringIO()
        Console(file=out, width=160, color_system=None).print(table(rows, names))
        log.info(out.getvalue().rstrip())
        return 0
    from rich.live import Live

    with Live(refresh_per_second=1, screen=False) as live:
        try:
            while True:
                rows, names = snapshot(settings, interval)
                live.update(table(rows, names))
        except KeyboardInterrupt:
            return 0


def _rejected(args: argparse.Namespace, settings: config.Settings) -> int:
    from cli import rejected

    if args.action == "show":
        rejected.show(settings, args.position)
        return 0
    filters = rejected.Filters(args.job, args.reason, args.tenant, args.since, args.until)
    if args.action == "list":
        rejected.list_rejected(settings, filters, args.max)
        return 0
    if filters == rejected.Filters():
        raise rejected.RejectedError("name what to redrive: --job, --reason, --tenant or --since/--until")
    rejected.redrive(settings, filters, dry_run=args.dry_run, wait_s=args.wait)
    return 0


def _operate(args: argparse.Namespace, settings: config.Settings) -> int:
    from cli import operations

    cluster = (getattr(args, "cluster", None) or settings.flink_rest).rstrip("/")
    if args.command == "cluster":
        if args.action == "up":
            operations.cluster_up(settings, args.taskmanagers, args.slots, args.memory, args.bind)
        elif args.action == "down":
            operations.cluster_down(settings)
        else:
            return operations.cluster_status(settings)
    elif args.command == "submit":
        operations.submit(settings, args, cluster)
    elif args.command == "jobs":
        operations.list_jobs(cluster, show_all=args.all)
    elif args.command == "savepoint":
        operations.savepoint(settings, args.job, cluster)
    elif args.command == "stop":
        operations.stop(settings, args.job, cluster, args.savepoint)
    else:
        operations.replay(settings, args.job, cluster, args.from_savepoint, args.parallelism)
    return 0


if __name__ == "__main__":
    sys.exit(main())
