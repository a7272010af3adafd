"""`headwater import-csv`: CSV rows -> api-format records on hw.ingest.csv, with a progress line."""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import yaml

from cli.produce import ProduceError, producer
from common.config import Settings
from common.contracts.tenants import WRITE_KEY, load_registry
from common.csv_import.mapping import Converter, MappingError, RowError, parse_mapping
from common.kafka.produce import send
from common.log import get_logger, progress
from common.topics import topic

log = get_logger(__name__)


def _checked_key(tenant: str, write_key: str | None) -> str:
    """Refuse here, with one line, what api-unification would refuse row by row (WRITE_KEY_REFUSED)."""
    if not write_key:
        raise ProduceError(f"no write key: set HEADWATER_WRITE_KEY (or --write-key) to a key of tenant {tenant}")
    owner = load_registry().for_write_key(write_key)
    if owner is None or owner.name != tenant:
        raise ProduceError(f"the write key is not one of tenant {tenant}'s in the tenants file (HEADWATER_TENANTS)")
    return write_key


def import_csv(
    settings: Settings, tenant: str, path: Path, mapping_path: Path, write_key: str | None = None
) -> tuple[int, list[tuple[int, str]]]:
    """Returns (rows sent, [(line, why)] refused). Line numbers count the header as line 1."""
    write_key = _checked_key(tenant, write_key or WRITE_KEY.read())
    for p in (path, mapping_path):
        if not p.is_file():
            raise ProduceError(f"no such file: {p}")
    try:
        mapping = parse_mapping(yaml.safe_load(mapping_path.read_text()))
    except yaml.YAMLError as exc:
        raise MappingError(f"{mapping_path}: not YAML: {str(exc).splitlines()[0]}") from None
    except MappingError as exc:
        raise MappingError(f"{mapping_path}: {exc}") from None
    converter = Converter(mapping, tenant, path.name, write_key)
    target = topic(settings.topic_prefix, "ingest.csv")
    p = producer(settings)
    errors: list[str] = []
    sent, refused, last = 0, [], time.monotonic()
    interactive = sys.stderr.isatty()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        converter.check_header(reader.fieldnames or [])
        for row in reader:
            line = reader.line_num
            try:
                record = converter.row(row, line)
            except RowError as exc:
                refused.append((line, str(exc)))
                continue
            send(
                p,
                target,
                json.dumps(record).encode(),
                key=converter.key(record),
                on_delivery=lambda err, _m: err and errors.append(str(err)),
            )
            sent += 1
            if time.monotonic() - last >= (0.5 if interactive else 10):
                last = time.monotonic()
                if interactive:  # one line, redrawn in place
                    sys.stderr.write(f"\rrows sent {sent}, refused {len(refused)}")
                else:
                    progress.info(f"rows sent {sent}, refused {len(refused)}")
    if p.flush(60) or errors:
        raise ProduceError(f"Kafka did not acknowledge every row: {errors[0] if errors else 'timeout'}")
    if interactive:
        sys.stderr.write("\n")
    log.info(f"rows sent {sent} to {target}, rows refused {len(refused)}")
    for line, why in refused[:50]:
        log.info(f"  line {line}: {why}")
    if len(refused) > 50:
        log.info(f"  ... and {len(refused) - 50} more")
    return sent, refused
