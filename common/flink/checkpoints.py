"""Find retained checkpoints of a job on HEADWATER_CHECKPOINTS (S3 or file://).

Flink writes `<checkpoint dir>/<job id>/chk-<n>/_metadata` for each completed checkpoint; with
RETAIN_ON_CANCELLATION the last ones survive a cancel or a crash, and `execution.state-recovery.path`
pointing at `chk-<n>` resumes from it like from a savepoint.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

from common.config import Settings
from common.flink.settings import checkpoint_dir

_CHK = re.compile(r"/chk-(\d+)/_metadata$")


def completed_checkpoints(settings: Settings, job: str) -> list[str]:
    """Locations (`.../chk-N`) of completed checkpoints of `job`, oldest first.

    Ordered by when `_metadata` was written, then by number: a fresh run of a job (not restored)
    numbers its checkpoints from 1 again, so numbers alone do not say which is newest."""
    base = urlparse(checkpoint_dir(settings, job))
    if base.scheme == "file":
        keys = [(p.stat().st_mtime, p.as_posix()) for p in Path(base.path).glob("*/chk-*/_metadata")]
        prefix = ""
    else:
        from infra.stack.provision import list_objects

        keys = [(o["LastModified"].timestamp(), o["Key"])
                for o in list_objects(settings, base.netloc, base.path.lstrip("/") + "/")]
        prefix = f"{base.scheme}://{base.netloc}/"
    found = []
    for written, key in keys:
        match = _CHK.search(key)
        if match:
            found.append((written, int(match.group(1)), prefix + key.removesuffix("/_metadata")))
    return [loc if prefix else "file://" + loc for _, _, loc in sorted(found)]


def latest_checkpoint(settings: Settings, job: str) -> str | None:
    found = completed_checkpoints(settings, job)
    return found[-1] if found else None
