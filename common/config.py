"""Where Headwater finds its services: one place that reads the environment.

DESIGN.md fixes the variable names (`HEADWATER_KAFKA`, `HEADWATER_MONGO_URI`, `HEADWATER_S3_ENDPOINT`,
`HEADWATER_CHECKPOINTS`, `HEADWATER_TOPIC_PREFIX`). Their defaults point at the local stack that
`headwater up` starts on loopback, so a newcomer needs to set nothing; a user with their own Kafka,
MongoDB and S3 sets these and nothing else changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_KAFKA = "127.0.0.1:19092"
DEFAULT_MONGO_URI = "mongodb://127.0.0.1:27117/"
DEFAULT_MONGO_DB = "headwater"  # collections `users` and `devices` (reaction-streaming writes them)
DEFAULT_S3_ENDPOINT = "http://127.0.0.1:19000"
DEFAULT_S3_ACCESS_KEY = "headwater"
DEFAULT_S3_SECRET_KEY = "headwater-secret"
DEFAULT_CHECKPOINT_BUCKET = "headwater"
DEFAULT_TOPIC_PREFIX = "hw."
# The Flink cluster `headwater submit/jobs/savepoint/stop/replay` talk to (its REST address); `headwater cluster
# up` starts a local one there. Not 8081: the embedded MiniCluster of `headwater run` takes ports from 8081 up.
DEFAULT_FLINK_REST = "http://127.0.0.1:18081"


class ConfigError(ValueError):
    """A setting that cannot work; the message says which variable to fix and how."""


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str
    mongo_uri: str
    mongo_database: str
    s3_endpoint: str | None
    s3_access_key: str
    s3_secret_key: str
    checkpoints: str
    topic_prefix: str
    data_dir: Path
    tools_dir: Path
    flink_rest: str = DEFAULT_FLINK_REST
    # Kafka outputs become visible downstream when a checkpoint commits them: the interval is the
    # freshness lever (None: flink-conf/config.yaml's 2 s).
    checkpoint_interval_ms: int | None = None

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
    data_dir = Path(env.get("HEADWATER_DATA_DIR", REPO_ROOT / ".data")).resolve()
    s3_endpoint = env.get("HEADWATER_S3_ENDPOINT", DEFAULT_S3_ENDPOINT) or None
    default_checkpoints = (
        f"s3://{DEFAULT_CHECKPOINT_BUCKET}/checkpoints"
        if s3_endpoint
        else (data_dir / "checkpoints").as_uri()
    )
    checkpoints = env.get("HEADWATER_CHECKPOINTS", default_checkpoints)
    scheme = urlparse(checkpoints).scheme
    if scheme not in ("s3", "file"):
        raise ConfigError(
            f"HEADWATER_CHECKPOINTS={checkpoints!r}: use s3://BUCKET/PATH (with HEADWATER_S3_ENDPOINT) or file:///PATH"
        )
    if scheme == "s3" and not s3_endpoint:
        raise ConfigError(
            f"HEADWATER_CHECKPOINTS={checkpoints!r} is on S3 but HEADWATER_S3_ENDPOINT is empty: "
            "set the endpoint, or use a file:/// location"
        )
    kafka = env.get("HEADWATER_KAFKA", DEFAULT_KAFKA)
    for server in kafka.split(","):
        _host_port(server.strip(), "HEADWATER_KAFKA")
    return Settings(
        kafka_bootstrap=kafka,
        mongo_uri=env.get("HEADWATER_MONGO_URI", DEFAULT_MONGO_URI),
        mongo_database=env.get("HEADWATER_MONGO_DB", DEFAULT_MONGO_DB),
        s3_endpoint=s3_endpoint,
        s3_access_key=env.get("HEADWATER_S3_ACCESS_KEY", DEFAULT_S3_ACCESS_KEY),
        s3_secret_key=env.get("HEADWATER_S3_SECRET_KEY", DEFAULT_S3_SECRET_KEY),
        checkpoints=checkpoints.rstrip("/"),
        topic_prefix=env.get("HEADWATER_TOPIC_PREFIX", DEFAULT_TOPIC_PREFIX),
        data_dir=data_dir,
        tools_dir=Path(env.get("HEADWATER_TOOLS_DIR", REPO_ROOT / ".tools")).resolve(),
        flink_rest=env.get("HEADWATER_FLINK", DEFAULT_FLINK_REST).rstrip("/"),
        **positive_ints(env, {"checkpoint_interval_ms": "HEADWATER_CHECKPOINT_INTERVAL_MS"}),
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


# FerretDB 1.x (the local MongoDB-wire server) holds one PostgreSQL connection per statement of a write
# command until the command ends, and stalls once they exceed its pool (64 in the local stack). Writers
# split bulk writes into commands of at most this many statements; real MongoDB is unaffected.
MONGO_MAX_STATEMENTS_PER_COMMAND = 32


def positive_ints(env, variables: dict[str, str]) -> dict[str, int]:
    """{field: value} for each of `variables` ({field: environment variable}) that is set; ConfigError
    naming the variable when one is not a positive integer. For a job's tuning knobs."""
    values = {}
    for field, variable in variables.items():
        raw = env.get(variable)
        if raw is None:
            continue
        if not raw.isdigit() or int(raw) <= 0:
            raise ConfigError(f"{variable}={raw!r} must be a positive integer")
        values[field] = int(raw)
    return values
