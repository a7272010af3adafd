"""The services of the local stack and how each is started and probed.

Ports come from the same variables the jobs read (HEADWATER_KAFKA, HEADWATER_MONGO_URI,
HEADWATER_S3_ENDPOINT), so the stack and the jobs cannot disagree; the few ports only the stack uses
have their own variables (see README). Readiness is always a real request: Kafka metadata, a Mongo
`ping`, an S3 bucket listing.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

from common import config
from common.config import Settings
from common.variables import Port, PositiveInt, declare
from infra.stack.process import Service, StackError, port_open

KAFKA_HEAP = "-Xms256m -Xmx1g"
# FerretDB 1.x takes one PostgreSQL connection per statement of a write command and holds it until
# the command ends: a bulk write with more statements than the pool stalls. The pool is sized here and
# writers keep their bulk commands below HEADWATER_MONGO_STATEMENTS_PER_COMMAND (reaction-streaming).
FERRETDB_POOL = 320
POSTGRES_MAX_CONNECTIONS = 400


KAFKA_CONTROLLER_PORT = declare(
    "HEADWATER_KAFKA_CONTROLLER_PORT",
    None,
    "port of the local Kafka's KRaft controller",
    kind=Port,
    section="local stack",
    default_text="Kafka port + 1",
)
KAFKA_SASL_PORT = declare(
    "HEADWATER_KAFKA_SASL_PORT",
    None,
    "port of the local Kafka's SASL/PLAIN listener (user `headwater`, password `headwater-secret`): "
    "what a secured Kafka looks like to the clients (HEADWATER_KAFKA_PROPERTIES, docs/operations.md)",
    kind=Port,
    section="local stack",
    default_text="Kafka port + 2",
)
# The local broker's SASL/PLAIN login; a real deployment has its own, in HEADWATER_KAFKA_PROPERTIES.
LOCAL_SASL_USER, LOCAL_SASL_PASSWORD = "headwater", "headwater-secret"
POSTGRES_PORT = declare(
    "HEADWATER_POSTGRES_PORT",
    15432,
    "port of the PostgreSQL under the local FerretDB",
    kind=Port,
    section="local stack",
)
S3_CONSOLE_PORT = declare(
    "HEADWATER_S3_CONSOLE_PORT",
    None,
    "port of the local MinIO's console",
    kind=Port,
    section="local stack",
    default_text="S3 port + 1",
)
PARTITIONS = declare(
    "HEADWATER_PARTITIONS",
    4,
    "partitions per topic that `headwater up` creates",
    kind=PositiveInt,
    section="local stack",
)


def postgres_bin() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if not candidates:
        raise StackError("PostgreSQL server not found under /usr/lib/postgresql: run `make setup`")
    return candidates[-1].parent


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root: run it as the `postgres` user the Debian package creates."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise StackError("running as root but no `postgres` user exists: run `make setup`") from None
    return "postgres"


def _traversable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & 0o001 for p in [path, *path.parents] if p.exists())


def _postgres_data_dir(data: Path, pg_user: str | None) -> Path:
    """`.data/postgres`, unless PostgreSQL runs as `postgres` and cannot reach it (e.g. a checkout
    under /root): then the data lives under /var/lib/postgresql and `.data/postgres` links to it."""
    link = data / "postgres"
    if pg_user is None or _traversable_by_others(data):
        return link
    target = Path("/var/lib/postgresql/headwater") / hashlib.sha256(str(data).encode()).hexdigest()[:12]
    if not link.is_symlink():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.chown(target.parent, pg_user, pg_user)
        data.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
    return target


def build_services(settings: Settings) -> list[Service]:
    data, tools = settings.data_dir, settings.tools_dir
    run_dir, log_dir = data / "run", data / "logs"
    kafka_host, kafka_port = config.kafka_host_port(settings)
    mongo_host, mongo_port = config.mongo_host_port(settings)
    s3_host, s3_port = config.s3_host_port(settings)
    controller_port = KAFKA_CONTROLLER_PORT.read() or kafka_port + 1
    sasl_port = local_sasl_port(settings)
    pg_port = POSTGRES_PORT.read()
    console_port = S3_CONSOLE_PORT.read() or s3_port + 1
    for host in (kafka_host, mongo_host, s3_host):
        if host not in ("127.0.0.1", "localhost"):
            raise StackError(f"the local stack listens on 127.0.0.1 only, not {host}: point HEADWATER_* at 127.0.0.1")

    # --- PostgreSQL (storage for FerretDB) ----------------------------------------------------------
    pg_user = _run_as()
    pg_data = _postgres_data_dir(data, pg_user)

    def pg_prepare() -> None:
        if (pg_data / "PG_VERSION").is_file():
            return
        pg_data.mkdir(parents=True, exist_ok=True)
        if pg_user:
            shutil.chown(pg_data, pg_user, pg_user)
        result = subprocess.run(
            [
                str(postgres_bin() / "initdb"),
                "-D",
                str(pg_data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            user=pg_user,
        )
        if result.returncode != 0:
            raise StackError(f"postgres: initdb failed: {result.stderr.strip().splitlines()[-1]}")

    def pg_ready() -> bool:
        return (
            subprocess.run([str(postgres_bin() / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(pg_port)]).returncode
            == 0
        )

    postgres = Service(
        name="postgres",
        host="127.0.0.1",
        port=pg_port,
        run_dir=run_dir,
        log_dir=log_dir,
        command=lambda: [
            str(postgres_bin() / "postgres"),
            "-D",
            str(pg_data),
            "-p",
            str(pg_port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={pg_data}",
            "-c",
            f"max_connections={POSTGRES_MAX_CONNECTIONS}",
            # FerretDB's prepared statements would get generic plans that skip the _id index (ferretdb_id_index.sql)
            "-c",
            "plan_cache_mode=force_custom_plan",
        ],
        ready=pg_ready,
        prepare=pg_prepare,
        user=pg_user,
        stop_signal=signal.SIGINT,
        start_timeout=30,
        port_hint="set HEADWATER_POSTGRES_PORT to a free port",
    )

    # --- FerretDB (MongoDB wire protocol) ----------------------------------------------------------
    ferret_state = data / "ferretdb"
    ferretdb_bin = tools / "bin" / "ferretdb"

    def ferret_prepare() -> None:
        if not ferretdb_bin.is_file():
            raise StackError(f"ferretdb not installed at {ferretdb_bin}: run `make setup`")
        ferret_state.mkdir(parents=True, exist_ok=True)
        exists = subprocess.run(
            [
                str(postgres_bin() / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(pg_port),
                "-U",
                "postgres",
                "-Atc",
                "SELECT 1 FROM pg_database WHERE datname='ferretdb'",
            ],
            capture_output=True,
            text=True,
        )
        if exists.stdout.strip() != "1":
            subprocess.run(
                [str(postgres_bin() / "createdb"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", "postgres", "ferretdb"],
                check=True,
                capture_output=True,
            )
        indexed = subprocess.run(
            [
                str(postgres_bin() / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(pg_port),
                "-U",
                "postgres",
                "-d",
                "ferretdb",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-f",
                str(Path(__file__).with_name("ferretdb_id_index.sql")),
            ],
            capture_output=True,
            text=True,
        )
        if indexed.returncode != 0:
            raise StackError(f"ferretdb: could not install the _id index trigger: {indexed.stderr.strip()}")

    def mongo_ready() -> bool:
        import pymongo

        with pymongo.MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=1000) as client:
            return client.admin.command("ping").get("ok") == 1.0

    ferretdb = Service(
        name="ferretdb",
        host=mongo_host,
        port=mongo_port,
        run_dir=run_dir,
        log_dir=log_dir,
        command=lambda: [
            str(ferretdb_bin),
            "--handler=postgresql",
            f"--postgresql-url=postgres://postgres@127.0.0.1:{pg_port}/ferretdb?pool_max_conns={FERRETDB_POOL}",
            f"--listen-addr={mongo_host}:{mongo_port}",
            f"--state-dir={ferret_state}",
            "--debug-addr=-",
            "--telemetry=disable",
            "--log-level=warn",
        ],
        ready=mongo_ready,
        prepare=ferret_prepare,
        start_timeout=30,
        port_hint="set HEADWATER_MONGO_URI to mongodb://127.0.0.1:<free port>/",
    )

    # --- Kafka (KRaft, combined broker + controller) -----------------------------------------------
    kafka_dir = data / "kafka"
    kafka_libs = tools / "kafka" / "libs"
    properties = kafka_dir / "server.properties"

    def kafka_prepare() -> None:
        if shutil.which("java") is None:
            raise StackError("kafka: `java` not found on PATH: install a JDK 17 (make setup does on Debian)")
        if not any(kafka_libs.glob("kafka_2.13-*.jar")):
            raise StackError(f"kafka: broker jars missing under {kafka_libs}: run `make setup`")
        kafka_dir.mkdir(parents=True, exist_ok=True)
        properties.write_text(_kafka_properties(kafka_dir / "data", kafka_port, controller_port, sasl_port))
        if not (kafka_dir / "data" / "meta.properties").is_file():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            result = subprocess.run(
                [
                    "java",
                    "-cp",
                    f"{kafka_libs}/*",
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(properties),
                ],
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise StackError(
                    f"kafka: storage format failed: {(result.stderr or result.stdout).strip().splitlines()[-1]}"
                )

    def kafka_ready() -> bool:
        from common.kafka.admin import broker_count

        return port_open(kafka_host, kafka_port) and broker_count(settings, timeout=2) >= 1

    log4j = config.REPO_ROOT / "infra" / "kafka" / "log4j2.properties"
    kafka = Service(
        name="kafka",
        host=kafka_host,
        port=kafka_port,
        run_dir=run_dir,
        log_dir=log_dir,
        command=lambda: [
            "java",
            *KAFKA_HEAP.split(),
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={log_dir}",
            "-cp",
            f"{kafka_libs}/*",
            "kafka.Kafka",
            str(properties),
        ],
        ready=kafka_ready,
        prepare=kafka_prepare,
        start_timeout=90,
        extra_ports=(controller_port, sasl_port),
        port_hint="set HEADWATER_KAFKA=127.0.0.1:<free port> (and HEADWATER_KAFKA_CONTROLLER_PORT, "
        "HEADWATER_KAFKA_SASL_PORT)",
    )

    # --- MinIO (S3) ---------------------------------------------------------------------------------
    minio_bin = tools / "bin" / "minio"
    minio_data = data / "minio"

    def minio_prepare() -> None:
        if not minio_bin.is_file():
            raise StackError(f"minio not installed at {minio_bin}: run `make setup`")
        minio_data.mkdir(parents=True, exist_ok=True)

    def s3_ready() -> bool:
        from common.s3 import s3_client

        s3_client(settings).list_buckets()
        return True

    minio = Service(
        name="minio",
        host=s3_host,
        port=s3_port,
        run_dir=run_dir,
        log_dir=log_dir,
        command=lambda: [
            str(minio_bin),
            "server",
            str(minio_data),
            "--quiet",
            "--address",
            f"{s3_host}:{s3_port}",
            "--console-address",
            f"127.0.0.1:{console_port}",
        ],
        env={
            "MINIO_ROOT_USER": settings.s3_access_key,
            "MINIO_ROOT_PASSWORD": settings.s3_secret_key,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            "MINIO_CALLHOME_ENABLE": "off",
        },
        ready=s3_ready,
        prepare=minio_prepare,
        start_timeout=30,
        extra_ports=(console_port,),
        port_hint="set HEADWATER_S3_ENDPOINT=http://127.0.0.1:<free port> (and HEADWATER_S3_CONSOLE_PORT)",
    )
    return [postgres, ferretdb, kafka, minio]


def local_sasl_port(settings: Settings) -> int:
    return KAFKA_SASL_PORT.read() or config.kafka_host_port(settings)[1] + 2


def _kafka_properties(log_dirs: Path, port: int, controller_port: int, sasl_port: int) -> str:
    return f"""# Generated by `headwater up`: a single-node KRaft broker + controller on loopback.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
# PLAINTEXT for the stack and the tests; SASL (SASL_PLAINTEXT, PLAIN) to prove that the clients take
# a secured cluster's properties from HEADWATER_KAFKA_PROPERTIES.
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port},SASL://127.0.0.1:{sasl_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port},SASL://127.0.0.1:{sasl_port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL:SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN
listener.name.sasl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\
    user_{LOCAL_SASL_USER}="{LOCAL_SASL_PASSWORD}";
inter.broker.listener.name=PLAINTEXT
log.dirs={log_dirs}
num.partitions=4
auto.create.topics.enable=false
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.max.timeout.ms=3600000
group.initial.rebalance.delay.ms=0
# No time-based retention on the local broker: tests produce records with fixed event times (so that
# a run is reproducible), and the broker deletes a segment whose newest timestamp is older than the
# retention, first 30 s after it starts: records a job had not read yet vanished mid-test. The topics
# that must expire (hw.rejected, hw.events.enriched) get HEADWATER_RETENTION_HOURS from `headwater up`.
log.retention.ms=-1
"""
