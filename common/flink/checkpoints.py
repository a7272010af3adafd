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
        from common.s3 import list_objects

        keys = [
            (o["LastModified"].timestamp(), o["Key"])
            for o in list_objects(settings, base.netloc, base.path.lstrip("/") + "/")
        ]
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


def require_restore_point(settings: Settings, path: str, job: str) -> None:
    """Refuse, before starting anything, a savepoint or checkpoint path that cannot be restored by `job`:
    nothing there (no `_metadata`), or a location Headwater wrote for another job."""
    from common.flink.savepoints import SavepointError

    parsed = urlparse(path.rstrip("/"))
    if parsed.scheme not in ("s3", "file"):
        raise SavepointError(
            f"savepoint path {path!r}: use s3://BUCKET/PATH or file:///PATH, as `headwater stop "
            f"{job} --savepoint` prints it"
        )
    root = settings.checkpoints.rstrip("/") + "/"
    if path.startswith(root):
        owner = path[len(root) :].split("/", 1)[0]
        if owner != job and owner:
            raise SavepointError(
                f"savepoint {path} was taken from job {owner}, not {job}: restore {job} from one "
                f"of its own (under {root}{job}/)"
            )
    if parsed.scheme == "file":
        found = (Path(parsed.path) / "_metadata").is_file()
    else:
        from botocore.exceptions import ClientError

        from common.s3 import list_objects

        key = parsed.path.lstrip("/") + "/_metadata"
        try:
            found = any(o["Key"] == key for o in list_objects(settings, parsed.netloc, key))
        except ClientError:  # e.g. no such bucket
            found = False
    if not found:
        raise SavepointError(
            f"no savepoint at {path} (no _metadata there): use the path `headwater stop {job} "
            f"--savepoint` or `headwater savepoint {job}` printed, or a chk-N of `headwater jobs`"
        )
