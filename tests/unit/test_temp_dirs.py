"""Flink JVMs keep temporary files in folders of their own, cleared once their process is gone
(common/flink/temp_dirs.py)."""

from __future__ import annotations

import subprocess
import sys

from common.flink.temp_dirs import fresh_folder, jvm_temp_options, local_run_folder


def test_a_local_run_clears_the_folders_of_processes_that_are_gone_and_keeps_running_ones(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    left = tmp_path / f"local-{dead_pid}"
    (left / "minicluster_x" / "tm_0").mkdir(parents=True)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        kept = tmp_path / f"local-{alive.pid}"
        kept.mkdir()
        stranger = tmp_path / "local-notes"
        stranger.mkdir()
        mine = local_run_folder(tmp_path, pid=123456789)
    finally:
        alive.kill()
        alive.wait()
    assert mine == tmp_path / "local-123456789" and mine.is_dir()
    assert not left.exists()
    assert kept.is_dir() and stranger.is_dir()


def test_a_cluster_process_starts_on_an_empty_folder(tmp_path):
    folder = tmp_path / "taskmanager-1" / "tmp"
    (folder / "python-dist-1" / "python-files").mkdir(parents=True)
    (folder / "headwater-shipped" / "code-1").mkdir(parents=True)
    fresh_folder(folder)
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert jvm_temp_options(folder) == f"-Djava.io.tmpdir={folder}"
