"""Where Flink's local JVMs keep their temporary files, and clearing what killed ones left behind.

A Flink JVM puts a lot under `java.io.tmpdir` (`io.tmp.dirs` defaults to it): its RPC system's jar
unpacked (20 MB), a MiniCluster's or a TaskManager's working folder with RocksDB's native library and
instance folders, blobs, spill files, and each job's Python archives unpacked (`python-dist-*`, 77
MB with the shipped dependencies). Flink removes them when it shuts down normally. A process that
is killed (`make chaos`, a test's SIGKILL, a `headwater run` stopped before its shutdown hook ran)
leaves them: two days of test runs here left 1,021 `flink-rpc-akka*.jar` (20 GB), 917
`minicluster_*` folders (30 GB) and 40 `python-dist-*` (0.5 GB) in /tmp, and one CI run failed on a
full disk.

So every JVM the project starts gets a folder of its own under `.data/`, and the next one to start
clears the folders of processes that are gone: a local run's under `.data/flink/tmp/local-<pid>`,
a cluster process's is its own `tmp` folder, cleared before it starts (common/flink/environment.py,
infra/stack/flink_cluster.py). Real clusters set `io.tmp.dirs` themselves (docs/operations.md).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from common.log import get_logger
from common.processes import pid_alive

log = get_logger(__name__)

LOCAL_PREFIX = "local-"


def jvm_temp_options(folder: Path) -> str:
    """JVM_ARGS that put every temporary file of a Flink JVM (io.tmp.dirs included) under `folder`."""
    return f"-Djava.io.tmpdir={folder}"


def fresh_folder(folder: Path) -> None:
    """Empty `folder` (what a killed process left there), then create it: for a process about to start
    that is the only one using it."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)


def local_run_folder(root: Path, pid: int | None = None) -> Path:
    """This process's folder under `root`, after clearing those of processes no longer running."""
    pid = os.getpid() if pid is None else pid
    root.mkdir(parents=True, exist_ok=True)
    for left in root.glob(f"{LOCAL_PREFIX}*"):
        owner = left.name.removeprefix(LOCAL_PREFIX)
        if owner.isdigit() and int(owner) != pid and not pid_alive(int(owner)):
            log.debug("clearing %s: its process is gone", left)
            shutil.rmtree(left, ignore_errors=True)
    folder = root / f"{LOCAL_PREFIX}{pid}"
    folder.mkdir(exist_ok=True)
    return folder
