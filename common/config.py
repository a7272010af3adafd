"""Where Headwater finds its services: the variables every job and the CLI read, and `load()`.

The service variables (`HEADWATER_KAFKA`, `HEADWATER_MONGO_URI`, `HEADWATER_S3_ENDPOINT`,
`HEADWATER_CHECKPOINTS`, `HEADWATER_TOPIC_PREFIX`) are a boundary of the product (docs/architecture.md):
their defaults point at the local stack that `headwater up` starts on loopback, so a newcomer needs to
set nothing; a user with their own Kafka, MongoDB and S3 sets these and nothing else changes.
Each variable is declared once, here or beside the code that reads it (common/variables.py).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from common.variables import ConfigError, PositiveInt, declare

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_CHECKPOINT_BUCKET = "headwater"

__all__ = ["REPO_ROOT", "ConfigError", "Settings", "load"]


def _check_port_range(value: str) -> None:
    if value and not re.fullmatch(r"\d{1,5}(-\d{1,5})?", value):
        raise ValueError("is not a port or a range of ports (e.g. 9250-9299), or empty for none")


def _check_host_ports(value: str) -> None:
    for server in value.split(","):
        _host_port(server.strip(), "HEADWATER_KAFKA")


KAFKA = declare(
    "HEADWATER_KAFKA", "127.0.0.1:19092", "Kafka bootstrap servers (the local broker's port)", check=_check_host_ports
)


def _check_kafka_properties(value: str) -> None:
    from common.kafka import properties

    properties.load(value)


KAFKA_PROPERTIES = declare(
    "HEADWATER_KAFKA_PROPERTIES",
    None,
    "a Java properties file of Kafka client settings (SASL, TLS, client.id) for every client: the jobs' "
    'sources and sinks and the CLI\'s; empty = none (docs/operations.md, "Secured Kafka")',
    check=_check_kafka_properties,
)
MONGO_URI = declare("HEADWATER_MONGO_URI", "mongodb://127.0.0.1:27117/", "MongoDB or FerretDB")
# collections `users` and `devices` (reaction-streaming writes them)
MONGO_DB = declare("HEADWATER_MONGO_DB", "headwater", "database of the `users` and `devices` documents")
S3_ENDPOINT = declare(
    "HEADWATER_S3_ENDPOINT",
    "http://127.0.0.1:19000",
    "S3 / MinIO endpoint; empty = AWS S3 itself for `s3://` checkpoints (credentials from "
    "HEADWATER_S3_ACCESS_KEY/SECRET_KEY if set, else AWS's own chain), and checkpoints default to "
    "`file://.data/checkpoints`",
)
S3_ACCESS_KEY = declare("HEADWATER_S3_ACCESS_KEY", "headwater", "S3 access key (also MinIO's root user)")
S3_SECRET_KEY = declare("HEADWATER_S3_SECRET_KEY", "headwater-secret", "S3 secret key (also MinIO's root password)")
CHECKPOINTS = declare(
    "HEADWATER_CHECKPOINTS",
    None,
    "checkpoints go to `<this>/<job>`, savepoints to `<this>/<job>/savepoints`",
    default_text=f"`s3://{DEFAULT_CHECKPOINT_BUCKET}/checkpoints`",
)
TOPIC_PREFIX = declare("HEADWATER_TOPIC_PREFIX", "hw.", "prefix of every topic")
# Not 8081: the embedded MiniCluster of `headwater run` takes ports from 8081 up.
FLINK = declare(
    "HEADWATER_FLINK",
    "http://127.0.0.1:18081",
    "REST address of the Flink cluster for `submit`, `jobs`, `savepoint`, `stop`, `replay` "
    "(`cluster up` starts a local one there)",
)
CHECKPOINT_INTERVAL_MS = declare(
    "HEADWATER_CHECKPOINT_INTERVAL_MS",
    None,
    "checkpoint interval of the jobs; Kafka outputs become visible downstream when a checkpoint commits "
    "them, so it bounds freshness",
    kind=PositiveInt,
    default_text="`2000` (flink-conf)",
)
CHECKPOINT_TIMEOUT_MS = declare(
    "HEADWATER_CHECKPOINT_TIMEOUT_MS",
    None,
    "how long a checkpoint may take before it counts as failed (3 failures in a row restart the job)",
    kind=PositiveInt,
    default_text="`120000` (flink-conf)",
)
# Must not exceed the broker's transaction.max.timeout.ms (15 min by default on any Kafka): a pending
# transaction that outlives it is aborted by the broker and its records are lost to read_committed
# readers. 15 minutes covers a restart with a slow checkpoint restore.
KAFKA_TRANSACTION_TIMEOUT_MS = declare(
    "HEADWATER_KAFKA_TRANSACTION_TIMEOUT_MS",
    15 * 60 * 1000,
    "transaction timeout of the jobs' exactly-once Kafka sinks; at most the broker's "
    "`transaction.max.timeout.ms` (15 min by default)",
    kind=PositiveInt,
)
CLUSTER_PYTHON = declare(
    "HEADWATER_CLUSTER_PYTHON",
    None,
    "the Python 3.11 a Flink cluster's TaskManagers run the jobs with (PyFlink installed, nothing else "
    "needed: `submit` ships the code and its pinned dependencies); the local cluster runs it too",
    default_text="this venv's python",
)
METRICS_PORTS = declare(
    "HEADWATER_METRICS_PORTS",
    "9250-9299",
    "ports of the jobs' Prometheus endpoints (Flink's reporter, `/metrics`): each `headwater run` and "
    "each process of the local cluster serves on the first free one; empty = none (docs/metrics.md)",
    check=lambda value: _check_port_range(value),
)
RETENTION_HOURS = declare(
    "HEADWATER_RETENTION_HOURS",
    168,
    "how long `hw.rejected` and `hw.events.enriched` keep records (they hold identifiers and original "
    "bytes that a user delete cannot reach); `headwater up` applies it to new and existing topics",
    kind=PositiveInt,
)
DATA_DIR = declare(
    "HEADWATER_DATA_DIR",
    None,
    "where the local stack and the jobs keep their data",
    section="local stack",
    default_text="`.data`",
)
TOOLS_DIR = declare(
    "HEADWATER_TOOLS_DIR",
    None,
    "where `make setup` put jars and binaries",
    section="local stack",
    default_text="`.tools`",
)


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str
    mongo_uri: str
    mongo_database: str
    s3_endpoint: str | None
    s3_access_key: str | None
    s3_secret_key: str | None
    checkpoints: str
    topic_prefix: str
    data_dir: Path
    tools_dir: Path
    flink_rest: str = FLINK.default
    # Kafka outputs become visible downstream when a checkpoint commits them: the interval is the
    # freshness lever (None: flink-conf/config.yaml's 2 s).
    checkpoint_interval_ms: int | None = None
    checkpoint_timeout_ms: int | None = None  # None: flink-conf's 2 min
    kafka_transaction_timeout_ms: int = KAFKA_TRANSACTION_TIMEOUT_MS.default
    # HEADWATER_KAFKA_PROPERTIES: a properties file for every Kafka client (common/kafka/properties.py)
    kafka_properties: str | None = None
    retention_hours: int = RETENTION_HOURS.default
    # HEADWATER_METRICS_PORTS: where Flink's Prometheus reporter serves (None or "": no reporter)
    metrics_ports: str | None = None
    # HEADWATER_CLUSTER_PYTHON: the interpreter of the cluster's TaskManagers (None: this venv's)
    cluster_python: str | None = None
    # `--reset-to TIME`: where a job started with empty state reads its topics from (epoch ms).
    start_from_ms: int | None = None

    @property
    def checkpoint_bucket(self) -> str | None:
        """The bucket of an `s3://` checkpoint location, or None for `file://`."""
        parsed = urlparse(self.checkpoints)
        return parsed.netloc if parsed.scheme in ("s3", "s3a", "s3p") else None


def _host_port(value: str, variable: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{variable}={value!r} is not HOST:PORT (e.g. 127.0.0.1:19092)")
    return host, int(port)


def load(environ: dict[str, str] | None = None) -> Settings:
    """Read the settings from the environment (or the mapping given), applying local-stack defaults."""
    env = os.environ if environ is None else environ
    data_dir = Path(DATA_DIR.read(env) or REPO_ROOT / ".data").resolve()
    s3_endpoint = S3_ENDPOINT.read(env) or None
    default_checkpoints = (
        f"s3://{DEFAULT_CHECKPOINT_BUCKET}/checkpoints" if s3_endpoint else (data_dir / "checkpoints").as_uri()
    )
    checkpoints = CHECKPOINTS.read(env) or default_checkpoints
    scheme = urlparse(checkpoints).scheme
    if scheme not in ("s3", "file"):
        raise ConfigError(
            f"HEADWATER_CHECKPOINTS={checkpoints!r}: use s3://BUCKET/PATH (with HEADWATER_S3_ENDPOINT) or file:///PATH"
        )
    # Against an endpoint (MinIO locally), the access keys default to the local stack's; against AWS S3
    # itself (no endpoint), only keys given explicitly are used, else AWS's own credential chain.
    explicit = s3_endpoint is not None or S3_ACCESS_KEY.name in env
    return Settings(
        kafka_bootstrap=KAFKA.read(env),
        kafka_properties=KAFKA_PROPERTIES.read(env),
        mongo_uri=MONGO_URI.read(env),
        mongo_database=MONGO_DB.read(env),
        s3_endpoint=s3_endpoint,
        s3_access_key=S3_ACCESS_KEY.read(env) if explicit else None,
        s3_secret_key=S3_SECRET_KEY.read(env) if explicit else None,
        checkpoints=checkpoints.rstrip("/"),
        topic_prefix=TOPIC_PREFIX.read(env),
        data_dir=data_dir,
        tools_dir=Path(TOOLS_DIR.read(env) or REPO_ROOT / ".tools").resolve(),
        flink_rest=FLINK.read(env).rstrip("/"),
        checkpoint_interval_ms=CHECKPOINT_INTERVAL_MS.read(env),
        checkpoint_timeout_ms=CHECKPOINT_TIMEOUT_MS.read(env),
        kafka_transaction_timeout_ms=KAFKA_TRANSACTION_TIMEOUT_MS.read(env),
        retention_hours=RETENTION_HOURS.read(env),
        metrics_ports=METRICS_PORTS.read(env) or None,
        cluster_python=CLUSTER_PYTHON.read(env) or None,
    )


def kafka_host_port(settings: Settings) -> tuple[str, int]:
    """The first bootstrap server as (host, port): the port the local broker listens on."""
    return _host_port(settings.kafka_bootstrap.split(",")[0].strip(), "HEADWATER_KAFKA")


def mongo_host_port(settings: Settings) -> tuple[str, int]:
    parsed = urlparse(settings.mongo_uri)
    if parsed.scheme != "mongodb" or not parsed.hostname:
        raise ConfigError(f"HEADWATER_MONGO_URI={settings.mongo_uri!r} is not mongodb://HOST:PORT/")
    return parsed.hostname, parsed.port or 27017


def s3_host_port(settings: Settings) -> tuple[str, int]:
    parsed = urlparse(settings.s3_endpoint or "")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"HEADWATER_S3_ENDPOINT={settings.s3_endpoint!r} is not http://HOST:PORT")
    return parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)
