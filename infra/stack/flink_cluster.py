"""`headwater cluster up|down|status`: a local Flink standalone cluster run from the PyFlink wheel.

One JobManager and N TaskManagers, each a foreground JVM started by the wheel's own `bin/jobmanager.sh`
and `bin/taskmanager.sh` and watched like the stack's other services (PID file, log under
`.data/logs/`). They read a conf folder rendered from `flink-conf/config.yaml` plus the cluster's size,
so a job behaves on the cluster as it does on the embedded MiniCluster: RocksDB, checkpoints and
savepoints on MinIO, thread-mode Python with the project's venv.

Two things the wheel does not do by itself (docs/flink-notes.md): the flink-python jar goes on the processes'
classpath (HADOOP_CLASSPATH, so every Python job shares one pemja and a second job does not fail with
`NoSuchFieldException: loadedLibraryNames`), and the S3 plugin comes from `.tools/flink/plugins`.
Each TaskManager is its own JVM with its own embedded Python, so two TaskManagers run Python on two
cores where two slots of one TaskManager share one interpreter lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from common.config import REPO_ROOT, Settings
from common.flink.settings import cluster_python, flink_home, plugins_dir, render_conf_dir
from common.flink.temp_dirs import fresh_folder, jvm_temp_options
from common.log import get_logger
from infra.stack.process import Service, StackError

log = get_logger(__name__)


LOOPBACK = "127.0.0.1"
# flink-conf pins these to loopback; `--bind` moves them all to one address.
BIND_KEYS = (
    "jobmanager.bind-host",
    "jobmanager.rpc.address",
    "taskmanager.bind-host",
    "taskmanager.host",
    "rest.bind-address",
    "rest.address",
)


def bind_address(text: str) -> str:
    """The `--bind` address: one IP address of this host (not a wildcard: it is also what the processes
    advertise to each other and to clients)."""
    import ipaddress

    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise StackError(f"--bind {text!r}: give an IP address of this host (e.g. 10.0.0.5)") from None
    if address.is_unspecified:
        raise StackError(
            f"--bind {text}: a wildcard cannot be advertised to the other processes; give this host's address"
        )
    return str(address)


@dataclass(frozen=True)
class ClusterSize:
    """How big `headwater cluster up` makes the cluster."""

    taskmanagers: int = 1
    slots: int = 4
    taskmanager_memory: str = "2048m"
    # The address every process binds to and advertises (RPC, data, REST). Loopback unless asked:
    # `cluster up --bind ADDRESS` for TaskManagers or clients on other hosts (docs/operations.md).
    bind: str = LOOPBACK

    def overrides(self) -> dict[str, str]:
        conf = {
            "taskmanager.numberOfTaskSlots": str(self.slots),
            "taskmanager.memory.process.size": self.taskmanager_memory,
        }
        if self.bind != LOOPBACK:
            for key in BIND_KEYS:
                conf[key] = self.bind
        return conf


def rest_host_port(settings: Settings) -> tuple[str, int]:
    parsed = urlparse(settings.flink_rest)
    if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
        raise StackError(
            f"HEADWATER_FLINK={settings.flink_rest!r} is not http://HOST:PORT (e.g. http://127.0.0.1:18081)"
        )
    return parsed.hostname, parsed.port


def code_digest() -> str:
    """SHA-256 over the Python code the TaskManagers import (jobs/ and common/)."""
    digest = hashlib.sha256()
    for path in sorted(p for folder in ("jobs", "common") for p in (REPO_ROOT / folder).rglob("*.py")):
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def stale_code(settings: Settings) -> bool:
    """Whether the running local cluster was started with other job code than the repository holds now."""
    try:
        recorded = json.loads(_code_file(settings).read_text())
    except (FileNotFoundError, ValueError):
        return False
    return recorded != code_digest() and any(pid for _, pid, _ in processes(settings))


def _code_file(settings: Settings) -> Path:
    return settings.data_dir / "run" / "flink-cluster-code.json"


def _size_file(settings: Settings) -> Path:
    return settings.data_dir / "run" / "flink-cluster.json"


def recorded_size(settings: Settings) -> ClusterSize | None:
    """The size the running cluster was started with (`down` and `status` need the TaskManager count)."""
    try:
        return ClusterSize(**json.loads(_size_file(settings).read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def registered_taskmanagers(rest: str, timeout: float = 2.0) -> int:
    with urllib.request.urlopen(f"{rest}/overview", timeout=timeout) as response:
        return int(json.load(response)["taskmanagers"])


def cluster_services(settings: Settings, size: ClusterSize) -> list[Service]:
    host, port = rest_host_port(settings)
    allowed = (LOOPBACK, "localhost") if size.bind == LOOPBACK else (size.bind,)
    if host not in allowed:
        raise StackError(
            f"the local cluster listens on {size.bind} only, not {host}: point HEADWATER_FLINK at "
            f"http://{size.bind}:{port}"
        )
    home = flink_home()
    conf_dir = render_conf_dir(
        settings,
        settings.data_dir / "flink" / "cluster-conf",
        {**size.overrides(), **cluster_python(settings), "rest.port": str(port), "rest.address": host},
    )
    log_dir = settings.data_dir / "logs" / "flink-cluster"
    env = {
        "FLINK_HOME": str(home),
        "FLINK_CONF_DIR": str(conf_dir),
        "FLINK_PLUGINS_DIR": str(plugins_dir(settings)),
        "FLINK_LOG_DIR": str(log_dir),
        "HADOOP_CLASSPATH": os.pathsep.join(str(p) for p in sorted((home / "opt").glob("flink-python-*.jar"))),
    }
    if settings.cluster_python is not None:  # a TaskManager of another host: nothing of this checkout
        env["PYTHONPATH"] = ""
    rest = settings.flink_rest

    def own_temp(folder: Path) -> dict[str, str]:
        """A process's temporary files (io.tmp.dirs, python-dist-*, headwater-shipped) in its own
        folder, emptied before it starts (common/flink/temp_dirs.py)."""
        return {**env, "JVM_ARGS": jvm_temp_options(folder), "TMPDIR": str(folder)}

    def rest_answers() -> bool:
        registered_taskmanagers(rest)
        return True

    jobmanager_temp = settings.data_dir / "flink" / "jobmanager" / "tmp"
    services = [
        Service(
            name="flink-jobmanager",
            host=host,
            port=port,
            run_dir=settings.data_dir / "run",
            log_dir=settings.data_dir / "logs",
            command=lambda: [str(home / "bin" / "jobmanager.sh"), "start-foreground"],
            ready=rest_answers,
            prepare=lambda: fresh_folder(jobmanager_temp),
            env=own_temp(jobmanager_temp),
            start_timeout=90.0,
            port_hint=f"set HEADWATER_FLINK to another http://{host}:PORT",
        )
    ]
    for index in range(1, size.taskmanagers + 1):
        home_dir = settings.data_dir / "flink" / f"taskmanager-{index}"
        services.append(
            Service(
                name=f"flink-taskmanager-{index}",
                host=host,
                port=0,  # TaskManagers take free ports
                run_dir=settings.data_dir / "run",
                log_dir=settings.data_dir / "logs",
                command=lambda: [str(home / "bin" / "taskmanager.sh"), "start-foreground"],
                ready=lambda index=index: registered_taskmanagers(rest) >= index,
                prepare=lambda temp=home_dir / "tmp": fresh_folder(temp),
                env=own_temp(home_dir / "tmp"),
                start_timeout=90.0,
                # not the checkout: with HEADWATER_CLUSTER_PYTHON a TaskManager sees none of it
                cwd=home_dir,
            )
        )
    return services


def up(settings: Settings, size: ClusterSize, say=log.info) -> None:
    """Start the JobManager, then the TaskManagers (idempotent). A running cluster keeps its size."""
    running = recorded_size(settings)
    if running is not None and running != size and any(s.running_pid() for s in cluster_services(settings, running)):
        raise StackError(
            f"a local cluster of another size is running ({running.taskmanagers} TaskManager(s), "
            f"{running.slots} slots): `headwater cluster down` first"
        )
    _size_file(settings).parent.mkdir(parents=True, exist_ok=True)
    _size_file(settings).write_text(json.dumps(size.__dict__))
    started = []
    for service in cluster_services(settings, size):
        started.append(service.start())
        say(f"  {service.name:<20} {'started' if started[-1] else 'already running'}")
    if all(started):  # every process imports the code as it is now
        _code_file(settings).write_text(json.dumps(code_digest()))


def down(settings: Settings, say=log.info) -> bool:
    """Stop the TaskManagers, then the JobManager. Returns False if nothing was running."""
    size = recorded_size(settings)
    if size is None:
        return False
    stopped = False
    for service in reversed(cluster_services(settings, size)):
        if service.stop():
            stopped = True
            say(f"  {service.name:<20} stopped")
    _size_file(settings).unlink(missing_ok=True)
    _code_file(settings).unlink(missing_ok=True)
    return stopped


def processes(settings: Settings) -> list[tuple[str, int | None, Path]]:
    """(name, pid or None, log) of each process of the recorded cluster."""
    size = recorded_size(settings)
    if size is None:
        return []
    return [(s.name, s.running_pid(), s.log_file) for s in cluster_services(settings, size)]
