"""`headwater`: the command line of Headwater. Run `headwater --help`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from common import config

EPILOG = """environment (defaults point at the local stack):
  HEADWATER_KAFKA         Kafka bootstrap servers     (default 127.0.0.1:19092)
  HEADWATER_MONGO_URI     MongoDB / FerretDB URI      (default mongodb://127.0.0.1:27117/)
  HEADWATER_S3_ENDPOINT   S3 / MinIO endpoint         (default http://127.0.0.1:19000; empty = no S3)
  HEADWATER_CHECKPOINTS   checkpoint location         (default s3://headwater/checkpoints)
  HEADWATER_TOPIC_PREFIX  topic name prefix           (default hw.)
  HEADWATER_TENANTS       registered tenants          (default config/tenants.yaml)
  HEADWATER_ENRICH_ATTRIBUTES  attributes copied onto enriched events (default all)
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="headwater",
        description="Stateful PyFlink jobs that turn raw customer events into exactly-once customer state.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="start the local stack (Kafka, FerretDB, MinIO) and create topics and bucket")
    up.add_argument("--partitions", type=int, default=int(os.environ.get("HEADWATER_PARTITIONS", "4")),
                    help="partitions per topic created (default: $HEADWATER_PARTITIONS or 4)")
    sub.add_parser("down", help="stop the processes `headwater up` started")
    sub.add_parser("status", help="print each local service with its address and state")

    run_help = ("run a job on the embedded Flink MiniCluster (blocks; Ctrl-C or SIGTERM stops it with a savepoint "
                "and prints `savepoint: PATH`, which --from-savepoint resumes from)")
    run = sub.add_parser("run", help=run_help, description=run_help)
    from jobs.registry import JOBS

    run.add_argument("job", help=f"one of: {', '.join(JOBS)}")
    run.add_argument("--parallelism", type=int, help="operator parallelism (default from flink-conf)")
    run.add_argument("--from-savepoint", metavar="PATH",
                     help="restore from a savepoint or retained checkpoint (s3://... or file://...)")

    produce = sub.add_parser("produce", help="write records from a JSON-lines file to an ingest topic")
    produce.add_argument("--source", required=True, choices=["sdk", "api", "partner", "csv"],
                         help="which ingest topic: hw.ingest.<source>")
    produce.add_argument("--file", required=True, type=Path, help="JSON-lines file, one record per line")

    imp = sub.add_parser("import-csv", help="send CSV rows as attribute updates or events to hw.ingest.csv")
    imp.add_argument("--tenant", required=True, help="the tenant the rows belong to")
    imp.add_argument("--file", required=True, type=Path, help="CSV file with a header row")
    imp.add_argument("--mapping", required=True, type=Path,
                     help="YAML mapping of columns to identifiers, attributes or event (docs/ingest-formats.md)")

    tail = sub.add_parser("tail", help="print committed records of a topic (decodes Avro values)")
    tail.add_argument("topic", help="topic suffix (e.g. skeleton.envelopes) or full name")
    tail.add_argument("--max", type=int, default=10, help="stop after this many records (default 10)")
    tail.add_argument("--timeout", type=float, default=5.0, help="stop after this many idle seconds (default 5)")
    return p


def main(argv: list[str] | None = None) -> int:
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
        print(f"headwater: error: {message}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace, settings: config.Settings) -> int:
    if args.command == "up":
        from infra.stack import control

        print(f"starting the local stack (data under {settings.data_dir})")
        elapsed = control.up(settings, args.partitions)
        print(f"ready in {elapsed:.1f} s")
        return 0
    if args.command == "down":
        from infra.stack import control

        control.down(settings)
        return 0
    if args.command == "status":
        from infra.stack import control

        rows = control.status(settings)
        print(f"{'SERVICE':<9} {'ADDRESS':<17} {'STATE':<28} {'PID':<8} LOG")
        for r in rows:
            print(f"{r.name:<9} {r.address:<17} {r.state:<28} {str(r.pid or '-'):<8} {r.log}")
        return 0 if all(r.state == "running" for r in rows) else 3
    if args.command == "run":
        from jobs import registry

        registry.job_module(args.job)  # fail fast on a wrong name, before starting Flink
        registry.run(args.job, settings, parallelism=args.parallelism, restore_from=args.from_savepoint)
        return 0
    if args.command == "produce":
        from cli.produce import produce_file

        produce_file(settings, args.source, args.file)
        return 0
    if args.command == "import-csv":
        from cli.import_csv import import_csv

        _sent, refused = import_csv(settings, args.tenant, args.file, args.mapping)
        return 2 if refused else 0
    if args.command == "tail":
        from cli.tail import read_committed, render
        from common.serde.avro import AvroCodec

        name = args.topic if args.topic.startswith(settings.topic_prefix) else settings.topic_prefix + args.topic
        codec = AvroCodec()
        for _key, value in read_committed(settings, name, max_records=args.max, idle_timeout=args.timeout):
            print(render(value, codec))
        return 0
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
