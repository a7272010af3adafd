"""`headwater produce`: write records from a JSON-lines file to an ingest topic."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from confluent_kafka import Producer

from common.config import Settings
from common.kafka.produce import send
from common.topics import topic

SOURCES = ("sdk", "api", "partner", "csv")
COMPUTE = "compute"  # profile computation messages: validated, Avro-encoded, to hw.compute.output


class ProduceError(RuntimeError):
    pass


def producer(settings: Settings) -> Producer:
    return Producer({
        "bootstrap.servers": settings.kafka_bootstrap,
        "enable.idempotence": True,  # no duplicates from producer retries
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
    })


def compute_records(path: Path):
    """Yield (key, Avro value) per line of a JSON-lines file of compute messages; ProduceError naming
    the line at the first bad one."""
    import json

    from common.serde.avro import AvroCodec
    from jobs.api_unification.reasons import Refusal
    from jobs.profile_dedupe.model import message_from_json, message_record

    codec = AvroCodec()
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                message = message_from_json(json.loads(line))
            except ValueError as exc:
                raise ProduceError(f"{path}:{number}: not JSON ({exc})") from None
            except Refusal as refusal:
                raise ProduceError(f"{path}:{number}: {refusal.detail}") from None
            yield message.tenant.encode(), codec.encode("compute_message", message_record(message))


def produce_file(settings: Settings, source: str, path: Path, *, progress=sys.stderr) -> int:
    """Send every non-empty line of `path` as one record; returns the count. Ingest lines are sent as
    they are (even invalid JSON), because refusing bad input with a reason code is api-unification's
    job. Compute messages are checked first and sent Avro-encoded, keyed by tenant."""
    if source not in SOURCES + (COMPUTE,):
        raise ProduceError(f"unknown source {source!r}; use one of {', '.join(SOURCES + (COMPUTE,))}")
    if not path.is_file():
        raise ProduceError(f"no such file: {path}")
    if source == COMPUTE:
        target = topic(settings.topic_prefix, "compute.output")
        for _ in compute_records(path):  # check every line first: a file with a bad line sends nothing
            pass
        keyed = compute_records(path)
    else:
        target = topic(settings.topic_prefix, f"ingest.{source}")
        keyed = None
    errors: list[str] = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(str(err))

    p = producer(settings)
    interactive = progress.isatty()
    lead, end = ("\r", "") if interactive else ("", "\n")
    sent, started, last_report = 0, time.monotonic(), time.monotonic()
    with path.open("rb") as lines:
        for key, line in keyed if keyed is not None else ((None, raw.rstrip(b"\r\n")) for raw in lines):
            if not line.strip():
                continue
            send(p, target, line, key=key, on_delivery=on_delivery)
            sent += 1
            now = time.monotonic()
            if now - last_report >= (1.0 if interactive else 10.0):
                print(f"{lead}produced {sent} records to {target}", end=end, file=progress, flush=True)
                last_report = now
    remaining = p.flush(60)
    if remaining:
        raise ProduceError(f"{remaining} records not acknowledged by Kafka at {settings.kafka_bootstrap} within 60 s")
    if errors:
        raise ProduceError(f"{len(errors)} records failed: {errors[0]}")
    elapsed = time.monotonic() - started
    print(f"{lead}produced {sent} records to {target} in {elapsed:.1f} s", file=progress, flush=True)
    return sent

