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
_SAVEPOINT = re.compile(r"/savepoints/savepoint-[^/]+/_metadata$")
RESET_MARK = "RESET"  # written by `--reset`: what was retained before it is not resumed by default


def _written_objects(settings: Settings, job: str) -> list[tuple[float, str]]:
    """(time written, full location) of every file under `job`'s checkpoint directory."""
    base = urlparse(checkpoint_dir(settings, job))
    if base.scheme == "file":
        root = Path(base.path)
        return [(p.stat().st_mtime, "file://" + p.as_posix()) for p in root.rglob("*") if p.is_file()]
    from common.s3 import list_objects

    prefix = f"{base.scheme}://{base.netloc}/"
    return [
        (o["LastModified"].timestamp(), prefix + o["Key"])
        for o in list_objects(settings, base.netloc, base.path.lstrip("/") + "/")
    ]


def completed_checkpoints(settings: Settings, job: str) -> list[str]:
    """Locations (`.../chk-N`) of completed checkpoints of `job`, oldest first.

    Ordered by when `_metadata` was written, then by number: a fresh run of a job (not restored)
    numbers its checkpoints from 1 again, so numbers alone do not say which is newest."""
    found = []
    for written, location in _written_objects(settings, job):
        match = _CHK.search(location)
        if match:
            found.append((written, int(match.group(1)), location.removesuffix("/_metadata")))
    return [location for _, _, location in sorted(found)]


def latest_checkpoint(settings: Settings, job: str) -> str | None:
    found = completed_checkpoints(settings, job)
    return found[-1] if found else None


def restore_points(settings: Settings, job: str) -> list[tuple[float, str]]:
    """(time written, location) of every retained checkpoint and savepoint of `job` taken after its
    last `--reset`, oldest first."""
    objects = _written_objects(settings, job)
    reset_at = max((w for w, loc in objects if loc.endswith(f"/{job}/{RESET_MARK}")), default=0.0)
    return sorted(
        (written, location.removesuffix("/_metadata"))
        for written, location in objects
        if written > reset_at and (_CHK.search(location) or _SAVEPOINT.search(location))
    )


def mark_reset(settings: Settings, job: str) -> None:
    """Leave the mark that hides what `job` retained until now from `restore_points`."""
    base = urlparse(checkpoint_dir(settings, job))
    if base.scheme == "file":
        Path(base.path).mkdir(parents=True, exist_ok=True)
        (Path(base.path) / RESET_MARK).write_text("reset by `headwater run|submit --reset`\n")
        return
    from common.s3 import s3_client

    key = base.path.strip("/") + "/" + RESET_MARK
    s3_client(settings).put_object(Bucket=base.netloc, Key=key, Body=b"reset by `headwater run|submit --reset`\n")


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
