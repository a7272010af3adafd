"""`headwater up | down | status`: the local stack as a whole."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from common.config import Settings
from common.log import get_logger
from infra.stack.process import Service, port_open
from infra.stack.provision import provision
from infra.stack.services import build_services

log = get_logger(__name__)


@dataclass
class ServiceStatus:
    name: str
    address: str
    state: str
    pid: int | None
    log: str


def up(settings: Settings, partitions: int, say: Callable[[str], None] = log.info) -> float:
    """Start every service (idempotent), create topics and bucket; returns seconds to ready."""
    started = time.monotonic()
    for service in build_services(settings):
        t0 = time.monotonic()
        fresh = service.start()
        verb = "started" if fresh else "already running"
        say(f"  {service.name:<9} {service.host}:{service.port:<6} {verb} ({time.monotonic() - t0:.1f} s)")
    result = provision(settings, partitions)
    created = result["topics_created"]
    say(f"  topics    {len(created)} created ({partitions} partitions each)" if created else "  topics    all present")
    if settings.checkpoint_bucket:
        state = "created" if result["bucket_created"] else "present"
        say(f"  bucket    s3://{settings.checkpoint_bucket} {state}")
    return time.monotonic() - started


def down(settings: Settings, say: Callable[[str], None] = log.info) -> None:
    """Stop, in reverse order, exactly the processes `up` recorded; a local Flink cluster
    (`headwater cluster up`) first, since its jobs depend on the rest."""
    from infra.stack import flink_cluster

    flink_cluster.down(settings, say=say)
    for service in reversed(build_services(settings)):
        stopped = service.stop()
        say(f"  {service.name:<9} {'stopped' if stopped else 'not running'}")


def status(settings: Settings) -> list[ServiceStatus]:
    rows = []
    for service in build_services(settings):
        rows.append(_status_of(service))
    return rows


def _status_of(service: Service) -> ServiceStatus:
    pid = service.running_pid()
    if pid is None:
        state = "taken by another process" if port_open(service.host, service.port) else "stopped"
    else:
        try:
            state = "running" if service.ready() else "starting (not answering yet)"
        except Exception:  # noqa: BLE001 - a failing probe is a state to report, not a crash
            state = "not answering"
    return ServiceStatus(service.name, f"{service.host}:{service.port}", state, pid, str(service.log_file))
