"""`headwater produce`: write records to an ingest topic from a JSON-lines file or a seeded generator,
or profile computation messages from a file to hw.compute.output; optionally rate-limited."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from confluent_kafka import Producer

from common.config import Settings
from common.errors import HeadwaterError
from common.kafka.clients import client_config
from common.kafka.produce import send
from common.log import get_logger, progress
from common.topics import topic

log = get_logger(__name__)

SOURCES = ("sdk", "api", "partner", "csv")
COMPUTE = "compute"  # profile computation messages: validated, Avro-encoded, to hw.compute.output


class ProduceError(HeadwaterError, RuntimeError):
    pass


def producer(settings: Settings) -> Producer:
    return Producer(
        client_config(
            settings,
            {
                "enable.idempotence": True,  # no duplicates from producer retries
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
            },
        )
    )


def compute_records(path: Path):
    """Yield (key, Avro value) per line of a JSON-lines file of compute messages; ProduceError naming
    the line at the first bad one."""
    from common.contracts.compute import message_from_json, message_record
    from common.contracts.rejections import Refusal
    from common.serde.avro import AvroCodec

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
            try:
                value = codec.encode("compute_message", message_record(message))
            except UnicodeEncodeError:
                raise ProduceError(
                    f"{path}:{number}: a string holds an unpaired UTF-16 surrogate (\\ud800-\\udfff): not Unicode text"
                ) from None
            yield message.tenant.encode(), value


def produce_file(settings: Settings, source: str, path: Path, *, rate: float | None = None) -> int:
    """Send every non-empty line of `path` as one record; returns the count. Ingest lines are sent as
    they are (even invalid JSON), because refusing bad input with a reason code is api-unification's
    job. Compute messages are checked first and sent Avro-encoded, keyed by tenant."""
    _check_source(source)
    if not path.is_file():
        raise ProduceError(f"no such file: {path}")
    if source == COMPUTE:
        target = topic(settings.topic_prefix, "compute.output")
        total = 0
        for _ in compute_records(path):  # check every line first: a file with a bad line sends nothing
            total += 1
        return send_all(settings, target, compute_records(path), total, rate=rate)
    target = topic(settings.topic_prefix, f"ingest.{source}")
    with path.open("rb") as lines:
        total = sum(1 for line in lines if line.strip())
    with path.open("rb") as lines:
        records = ((None, raw.rstrip(b"\r\n")) for raw in lines if raw.strip())
        return send_all(settings, target, records, total, rate=rate)


def produce_generated(
    settings: Settings,
    source: str,
    count: int,
    *,
    seed: int,
    users: int = 500,
    events: int = 10,
    invalid_share: float = 0.0,
    rate: float | None = None,
) -> int:
    """Send `count` synthetic records (SDK batches of `events` events for sdk) from a seeded generator:
    the same seed gives the same records, with times relative to now (the jobs refuse events from too
    far in the past). `invalid_share` of them are malformed in the ways api-unification refuses."""
    from cli.synthetic import Generator

    _check_source(source)
    if source == COMPUTE:
        raise ProduceError(
            "--generate makes ingest records (sdk, api, partner, csv); compute messages name real "
            "profiles: write them to a file and use --file"
        )
    generator = Generator(seed, arrival_ms=int(time.time() * 1000), users=users)

    def records():
        for _ in range(count):
            if source == "sdk" and invalid_share == 0:
                yield None, json.dumps(generator.sdk(events)).encode()
            else:
                yield None, generator.mixed(source, invalid_share)

    return send_all(settings, topic(settings.topic_prefix, f"ingest.{source}"), records(), count, rate=rate)


def _check_source(source: str) -> None:
    if source not in SOURCES + (COMPUTE,):
        raise ProduceError(f"unknown source {source!r}; use one of {', '.join(SOURCES + (COMPUTE,))}")


def send_all(
    settings: Settings,
    target: str,
    records: Iterable[tuple[bytes | None, bytes]],
    total: int,
    *,
    rate: float | None = None,
) -> int:
    """Produce (key, value) pairs to `target`, at most `rate` a second, with a progress bar on a terminal
    (a line every 10 s otherwise); wait until Kafka acknowledged all of them. Returns the count."""
    from tqdm import tqdm

    if rate is not None and rate <= 0:
        raise ProduceError(f"--rate {rate:g}: give a positive number of records per second")
    errors: list[str] = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(str(err))

    p = producer(settings)
    interactive = sys.stderr.isatty()
    bar = tqdm(total=total, unit="rec", file=sys.stderr, disable=not interactive, desc=target, smoothing=0.1)
    sent, started, last_line = 0, time.monotonic(), time.monotonic()
    with bar:
        for key, value in records:
            if rate is not None:
                wait = started + sent / rate - time.monotonic()
                if wait > 0:
                    p.poll(0)
                    time.sleep(wait)
            send(p, target, value, key=key, on_delivery=on_delivery)
            sent += 1
            bar.update(1)
            if not interactive and time.monotonic() - last_line >= 10.0:
                progress.info(f"produced {sent}/{total} records to {target}")
                last_line = time.monotonic()
    remaining = p.flush(60)
    if remaining:
        raise ProduceError(f"{remaining} records not acknowledged by Kafka at {settings.kafka_bootstrap} within 60 s")
    if errors:
        raise ProduceError(f"{len(errors)} records failed: {errors[0]}")
    elapsed = time.monotonic() - started
    progress.info(f"produced {sent} records to {target} in {elapsed:.1f} s ({sent / max(elapsed, 1e-9):,.0f}/s)")
    return sent
