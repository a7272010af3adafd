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


def produce_file(settings: Settings, source: str, path: Path, *, progress=sys.stderr) -> int:
    """Send every non-empty line of `path` as one record; returns the count. Lines are sent as they
    are (even invalid JSON), because refusing bad input with a reason code is api-unification's job."""
    if source not in SOURCES:
        raise ProduceError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")
    if not path.is_file():
        raise ProduceError(f"no such file: {path}")
    target = topic(settings.topic_prefix, f"ingest.{source}")
    errors: list[str] = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(str(err))

    p = producer(settings)
    interactive = progress.isatty()
    lead, end = ("\r", "") if interactive else ("", "\n")
    sent, started, last_report = 0, time.monotonic(), time.monotonic()
    with path.open("rb") as lines:
        for line in lines:
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            send(p, target, line, on_delivery=on_delivery)
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

