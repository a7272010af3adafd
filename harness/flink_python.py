"""A Python 3.11 that has PyFlink and nothing of Headwater: what a TaskManager on another host has.

The cluster tests run the local cluster's TaskManagers with it (HEADWATER_CLUSTER_PYTHON), so every job
they submit must bring its code and dependencies (common/flink/shipping.py). It is a venv of this
venv's base interpreter whose site-packages holds only `apache-flink` and what it requires, linked
from this venv: no download, and the same PyFlink the client builds jobs with.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from common.flink.settings import venv_site_packages, venv_site_packages_of
from common.flink.shipping import closure

FLINK = "apache-flink"


def flink_only_python(folder: Path) -> Path:
    """The interpreter of a venv at `folder` with PyFlink alone (built once; idempotent)."""
    python = folder / "bin" / "python"
    marker = folder / ".flink-only"
    if marker.is_file() and python.exists():
        return python
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", "--clear", str(folder)], check=True)
    ours, theirs = Path(venv_site_packages()), Path(venv_site_packages_of(str(python)))
    tops = {
        Path(str(entry)).parts[0]
        for dist in closure([FLINK]).values()
        for entry in dist.files or []
        if not str(entry).startswith("..")
    }
    for top in sorted(tops):
        if (ours / top).exists() and not (theirs / top).exists():
            (theirs / top).symlink_to(ours / top)
    marker.write_text("\n".join(sorted(tops)) + "\n")
    return python
