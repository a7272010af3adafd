"""Flink configuration: the static settings in `flink-conf/` plus what depends on the environment.

One function, `flink_settings`, decides every key, so the embedded MiniCluster and the standalone
cluster run with the same settings. `render_conf_dir` writes them as a Flink conf folder
(`config.yaml` + log4j files) because some of them (the S3 plugin's endpoint and keys, the JVM
options) are read by Flink from FLINK_CONF_DIR when its processes start, not from a job's config.
"""

from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
from pathlib import Path, PurePosixPath

import yaml

from common.config import REPO_ROOT, Settings
from common.errors import HeadwaterError

FLINK_CONF_SOURCE = REPO_ROOT / "flink-conf" / "config.yaml"
KAFKA_CONNECTOR_JAR = "connectors/flink-sql-connector-kafka-5.0.0-2.2.jar"
SUPPORT_JAR = "connectors/headwater-flink-support.jar"  # common/flink/java, built by `make setup`
PROMETHEUS_REPORTER = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"


class FlinkSetupError(HeadwaterError, RuntimeError):
    """Something `make setup` should have installed is missing."""


def static_settings() -> dict[str, str]:
    raw = yaml.safe_load(FLINK_CONF_SOURCE.read_text())
    return {str(k): _as_flink_value(v) for k, v in raw.items()}


def _as_flink_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def flink_home() -> Path:
    import pyflink

    return Path(pyflink.__file__).resolve().parent


def flink_jars_dir(settings: Settings) -> Path:
    return settings.tools_dir / "flink"


def connector_jars(settings: Settings) -> list[Path]:
    jars = [flink_jars_dir(settings) / KAFKA_CONNECTOR_JAR, flink_jars_dir(settings) / SUPPORT_JAR]
    for jar in jars:
        if not jar.is_file():
            raise FlinkSetupError(f"{jar.name} missing at {jar}: run `make setup`")
    return jars


def plugins_dir(settings: Settings) -> Path:
    plugins = flink_jars_dir(settings) / "plugins"
    if settings.checkpoint_bucket and not any(plugins.glob("s3-fs-presto/*.jar")):
        raise FlinkSetupError(f"S3 file system plugin missing under {plugins}: run `make setup`")
    if settings.metrics_ports and not any(plugins.glob("metrics-prometheus/*.jar")):
        raise FlinkSetupError(
            f"Prometheus metrics plugin missing under {plugins}: run `make setup` (or set HEADWATER_METRICS_PORTS= "
            f"to run without it)"
        )
    return plugins


def checkpoint_dir(settings: Settings, job: str) -> str:
    return f"{settings.checkpoints}/{job}"


def savepoint_dir(settings: Settings, job: str) -> str:
    return f"{settings.checkpoints}/{job}/savepoints"


def local_python() -> dict[str, str]:
    """The jobs' Python when it runs from this checkout (`headwater run`, the local cluster by default):
    this venv's interpreter, with its site-packages and the checkout on the path."""
    return {
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        # Thread mode embeds CPython through pemja from the *base* installation, which does not see the
        # venv: without this the operator fails with "No module named 'pemja'" and restarts forever.
        "python.pythonpath": os.pathsep.join([venv_site_packages(), str(REPO_ROOT)]),
    }


def venv_site_packages() -> str:
    return sysconfig.get_paths()["purelib"]


def cluster_python(settings: Settings) -> dict[str, str]:
    """The jobs' Python on a cluster that was given HEADWATER_CLUSTER_PYTHON: that interpreter, and
    nothing of this checkout on its path (the code and its dependencies come with each job,
    common/flink/shipping.py). Without the setting, the local cluster runs `local_python()`.
    The job's configuration decides, not the cluster's: `submit` sends these keys with each job."""
    if settings.cluster_python is None:
        return local_python()
    # Thread mode embeds the interpreter's base installation, which does not see a venv's own
    # site-packages: name it (for a system Python the folder does not exist, and its own
    # site-packages is on the path anyway).
    return {
        "python.executable": settings.cluster_python,
        "python.client.executable": sys.executable,
        "python.pythonpath": venv_site_packages_of(settings.cluster_python),
    }


def venv_site_packages_of(python: str) -> str:
    """The site-packages of a Python 3.11 venv whose interpreter is `python`, from its path alone (the
    interpreter may be on another host)."""
    return str(PurePosixPath(python).parent.parent / "lib" / "python3.11" / "site-packages")


def flink_settings(settings: Settings, job: str | None = None) -> dict[str, str]:
    """Every Flink key for a run: static settings + environment-dependent ones (+ a job's own dirs)."""
    conf = static_settings()
    conf.update(local_python())
    conf["pipeline.jars"] = ";".join(p.as_uri() for p in connector_jars(settings))
    if settings.s3_endpoint:
        conf["s3.endpoint"] = settings.s3_endpoint
    if settings.s3_access_key is not None:  # else the S3 plugin uses AWS's own credential chain
        conf["s3.access-key"] = settings.s3_access_key
        conf["s3.secret-key"] = settings.s3_secret_key
    if settings.metrics_ports:
        # Flink's Prometheus reporter: every process (JobManager, TaskManager, the MiniCluster of
        # `headwater run`) serves /metrics on the first free port of the range (docs/metrics.md).
        conf["metrics.reporter.prom.factory.class"] = PROMETHEUS_REPORTER
        conf["metrics.reporter.prom.port"] = settings.metrics_ports
    if settings.checkpoint_interval_ms:
        conf["execution.checkpointing.interval"] = f"{settings.checkpoint_interval_ms} ms"
    if settings.checkpoint_timeout_ms:
        conf["execution.checkpointing.timeout"] = f"{settings.checkpoint_timeout_ms} ms"
    if job is not None:
        conf["execution.checkpointing.dir"] = checkpoint_dir(settings, job)
        conf["execution.checkpointing.savepoint-dir"] = savepoint_dir(settings, job)
    return conf


def render_conf_dir(settings: Settings, target: Path, overrides: dict[str, str] | None = None) -> Path:
    """Write a Flink conf folder for processes that read FLINK_CONF_DIR (gateway, cluster).

    Several `headwater run` processes may start at once (the demo starts four) with the same or
    different settings: each conf goes to its own folder named by its content, and every file is
    written to a temporary name and renamed, so no process ever reads a half-written config.yaml.
    `overrides` replace keys (the standalone cluster's slots and memory)."""
    conf = {**flink_settings(settings), **(overrides or {})}
    text = "# Generated by Headwater from flink-conf/config.yaml and the HEADWATER_* environment.\n" + "".join(
        f"{key}: {_yaml_scalar(value)}\n" for key, value in sorted(conf.items())
    )
    target = target.parent / f"{target.name}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    target.mkdir(parents=True, exist_ok=True)
    _write_atomically(target / "config.yaml", text.encode())
    for name in ("log4j.properties", "log4j-cli.properties", "log4j-console.properties", "log4j-session.properties"):
        source = flink_home() / "conf" / name
        if source.is_file():
            _write_atomically(target / name, source.read_bytes())
    return target


def _write_atomically(path: Path, data: bytes) -> None:
    if path.is_file() and path.read_bytes() == data:
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _yaml_scalar(value: str) -> str:
    return yaml.safe_dump(value, default_style=None, width=10_000).strip().removesuffix("\n...").strip()
