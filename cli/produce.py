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


def write_one(settings: Settings, topic_name: str, key: str, value: bytes) -> None:
    """One record, acknowledged, or ProduceError (config commands: a compacted topic's latest value)."""
    errors: list[str] = []
    p = producer(settings)
    p.produce(topic_name, value, key=key.encode(), on_delivery=lambda err, _m: err and errors.append(str(err)))
    if p.flush(30) or errors:
        raise ProduceError(f"could not write to {topic_name}: {errors[0] if errors else 'not acknowledged in 30 s'}")


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


# `headwater produce --generate` without --now: event times and Kafka timestamps count from here, so the
# same seed gives byte-identical records on every run (and the tenants' window around arrival accepts
# them: the Kafka timestamp is the arrival).
GENERATOR_EPOCH_MS = 1_793_491_200_000  # 2026-11-01T00:00:00Z


def generated_records(
    source: str,
    count: int,
    *,
    seed: int,
    arrival_ms: int,
    users: int = 500,
    events: int = 10,
    invalid_share: float = 0.0,
    tenants: tuple[str, ...] | None = None,
):
    """Yield `count` (key, value) synthetic records of `source` (pure: the same arguments, the same bytes)."""
    from cli.synthetic import TENANTS, Generator

    generator = Generator(seed, arrival_ms=arrival_ms, users=users, tenants=tenants or TENANTS)
    for _ in range(count):
        if source == "sdk" and invalid_share == 0:
            yield None, json.dumps(generator.sdk(events)).encode()
        else:
            yield None, generator.mixed(source, invalid_share)


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
    tenants: tuple[str, ...] | None = None,
    now: bool = False,
) -> int:
    """Send `count` synthetic records (SDK batches of `events` events for sdk) from a seeded generator.
    The same seed gives byte-identical records: times count from GENERATOR_EPOCH_MS, which is also each
    record's Kafka timestamp (the jobs judge event times against it). With `now`, times count from
    now instead, for live traffic. `invalid_share` of them are malformed in the ways api-unification
    refuses."""
    from cli.synthetic import WRITE_KEYS

    _check_source(source)
    if source == COMPUTE:
        raise ProduceError(
            "--generate makes ingest records (sdk, api, partner, csv); compute messages name real "
            "profiles: write them to a file and use --file"
        )
    unknown = [t for t in tenants or () if t not in WRITE_KEYS]
    if unknown:
        raise ProduceError(
            f"--tenants: no demo write key for {', '.join(unknown)}; the generator writes for {', '.join(WRITE_KEYS)}"
        )
    target = topic(settings.topic_prefix, f"ingest.{source}")
    arrival_ms = int(time.time() * 1000) if now else GENERATOR_EPOCH_MS
    if not now:
        _warn_if_expired(settings, target, arrival_ms)
    records = generated_records(
        source,
        count,
        seed=seed,
        arrival_ms=arrival_ms,
        users=users,
        events=events,
        invalid_share=invalid_share,
        tenants=tenants,
    )
    stamped = ((key, value, None if now else arrival_ms) for key, value in records)
    return send_all(settings, target, stamped, count, rate=rate)


def _warn_if_expired(settings: Settings, target: str, stamped_ms: int) -> None:
    """Records stamped at the epoch are older than a topic's time retention may allow: say so."""
    from confluent_kafka.admin import ConfigResource

    from common.kafka.admin import admin_client

    admin = admin_client(settings)  # held until the future resolves
    resource = ConfigResource(ConfigResource.Type.TOPIC, target)
    try:
        config = admin.describe_configs([resource], request_timeout=10)[resource].result(timeout=15)
        retention = int(config["retention.ms"].value)
    except Exception:  # noqa: BLE001 - the warning is a courtesy; sending reports a missing topic itself
        return
    age = int(time.time() * 1000) - stamped_ms
    if 0 <= retention < age:
        progress.warning(
            f"the records are stamped {age // 86_400_000} days ago (the generator's fixed epoch), past "
            f"{target}'s retention of {retention // 3_600_000} h: the broker may delete them before a job "
            f"reads them; add --now for records stamped now"
        )


def _check_source(source: str) -> None:
    if source not in SOURCES + (COMPUTE,):
        raise ProduceError(f"unknown source {source!r}; use one of {', '.join(SOURCES + (COMPUTE,))}")


def send_all(
    settings: Settings,
    target: str,
    records: Iterable[tuple],
    total: int,
    *,
    rate: float | None = None,
) -> int:
    """Produce (key, value) or (key, value, Kafka timestamp or None) records to `target`, at most `rate`
    a second, with a progress bar on a terminal (a line every 10 s otherwise); wait until Kafka
    acknowledged all of them. Returns the count."""
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
        for key, value, *stamp in records:
            if rate is not None:
                wait = started + sent / rate - time.monotonic()
                if wait > 0:
                    p.poll(0)
                    time.sleep(wait)
            timestamp = {"timestamp": stamp[0]} if stamp and stamp[0] is not None else {}
            send(p, target, value, key=key, on_delivery=on_delivery, **timestamp)
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
