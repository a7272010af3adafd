"""What `headwater submit` ships with a job, so a cluster's TaskManagers need only Flink (the PyFlink
distribution: Flink itself and the Python it runs UDFs with) and a Python 3.11 with PyFlink installed
(HEADWATER_CLUSTER_PYTHON), never this checkout.

Two zip archives go as PyFlink "python files" (`python.files`): Flink uploads them with the job, each
TaskManager extracts them and puts their roots on the Python path of the job's interpreter.

- **the code**: the packages a job imports on a TaskManager (`common/`, `jobs/`) and the data they read
  there (`schemas/`, `config/`), laid out as in the repository, so paths relative to a module hold;
- **the dependencies**: the installed distributions the jobs import (JOB_DISTRIBUTIONS) and everything
  they require, at the versions pinned in pyproject.toml and installed in this venv. PyFlink and what
  it needs are the cluster's. A module PyFlink already imported in the TaskManager's interpreter stays
  the one it imported (typing_extensions, say); the rest come first on the path.

Both are built once per content (named by a digest under `.data/ship/`): a submit whose code and
dependencies did not change uploads the same files and builds nothing.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from common.config import REPO_ROOT, Settings
from common.log import get_logger

log = get_logger(__name__)

# What the jobs import on a TaskManager (their operators and the modules those import): the cluster
# test fails if one is missing. Client-side tools (boto3, rich, matplotlib, ...) stay out.
JOB_DISTRIBUTIONS = ("fastavro", "pymongo", "pydantic", "PyYAML", "phonenumbers", "rocksdict", "confluent-kafka")
CODE = ("common", "jobs", "schemas", "config")
_SKIP = re.compile(r"(^|/)__pycache__/|\.pyc$")


@dataclass(frozen=True)
class Shipment:
    code: Path
    dependencies: Path

    def python_files(self) -> str:
        """The value of `python.files`: the dependencies after the code, both as file URIs."""
        return ",".join(p.as_uri() for p in (self.code, self.dependencies))


def shipment(settings: Settings) -> Shipment:
    """The two archives of a submit, built if their content is new."""
    folder = settings.data_dir / "ship"
    folder.mkdir(parents=True, exist_ok=True)
    return Shipment(_code_archive(folder), _dependencies_archive(folder))


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(dist: metadata.Distribution) -> list[str]:
    """The names of what `dist` requires in this environment (markers evaluated, extras left out)."""
    from packaging.requirements import Requirement

    names = []
    for text in dist.requires or []:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        names.append(requirement.name)
    return names


def closure(roots) -> dict[str, metadata.Distribution]:
    """The installed distributions `roots` need, themselves included, by normalized name."""
    found: dict[str, metadata.Distribution] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        key = _normalized(name)
        if key in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency that is not installed
        found[key] = dist
        pending.extend(_requirements(dist))
    return found


def _dependencies_archive(folder: Path) -> Path:
    dists = sorted(closure(JOB_DISTRIBUTIONS).items())
    digest = hashlib.sha256(repr([(k, d.version) for k, d in dists]).encode()).hexdigest()[:16]
    target = folder / f"dependencies-{digest}.zip"
    if target.is_file():
        return target
    files = []
    for _key, dist in dists:
        for entry in dist.files or []:
            text = str(entry)
            if text.startswith("..") or _SKIP.search(text):  # scripts outside site-packages, bytecode
                continue
            files.append((text, Path(dist.locate_file(entry))))
    log.info(
        f"packing {len(dists)} distributions for the TaskManagers: {', '.join(f'{k}=={d.version}' for k, d in dists)}"
    )
    return _write(target, files)


def _code_archive(folder: Path) -> Path:
    files = sorted(
        (str(path.relative_to(REPO_ROOT)), path)
        for top in CODE
        for path in (REPO_ROOT / top).rglob("*")
        if path.is_file() and not _SKIP.search(str(path.relative_to(REPO_ROOT)))
    )
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    target = folder / f"code-{digest.hexdigest()[:16]}.zip"
    return target if target.is_file() else _write(target, files)


def _write(target: Path, files: list[tuple[str, Path]]) -> Path:
    """A zip of `files` (name in the archive, source), written aside and renamed: never half-written."""
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, source in files:
            if source.is_file():
                archive.write(source, name)
    partial.replace(target)
    return target
