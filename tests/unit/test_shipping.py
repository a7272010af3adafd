"""What `headwater submit` ships (common/flink/shipping.py) and how a job's functions find it on a
TaskManager (common/flink/shipped_code.py); the cluster tests run it for real, on TaskManagers whose
Python has PyFlink alone (tests/integration/conftest.py)."""

from __future__ import annotations

import ast
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

from common import config
from common.config import REPO_ROOT
from common.flink import shipping
from common.flink.settings import cluster_python
from common.metrics import PushedGauges
from harness.flink_fake import MetricGroup


def _settings(tmp_path, **env):
    return config.load({"HEADWATER_DATA_DIR": str(tmp_path), **env})


def test_the_code_archive_holds_the_packages_and_data_a_job_reads_and_no_bytecode(tmp_path):
    archive = shipping.shipment(_settings(tmp_path)).code
    names = set(zipfile.ZipFile(archive).namelist())
    for needed in ("common/config.py", "jobs/registry.py", "schemas/fingerprints.json", "config/tenants.yaml"):
        assert needed in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.split("/")[0] not in shipping.CODE]
    assert shipping.shipment(_settings(tmp_path)).code == archive  # built once per content


def test_the_dependencies_are_the_pinned_versions_of_what_the_jobs_import_and_what_those_need(tmp_path):
    pins = {}
    for line in tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        name, _, version = line.partition("==")
        pins[shipping._normalized(name)] = version
    shipped = shipping.closure(shipping.JOB_DISTRIBUTIONS)
    for name in shipping.JOB_DISTRIBUTIONS:
        assert shipped[shipping._normalized(name)].version == pins[shipping._normalized(name)]
    assert "pydantic-core" in shipped and "apache-flink" not in shipped and "matplotlib" not in shipped
    names = set(zipfile.ZipFile(shipping.shipment(_settings(tmp_path)).dependencies).namelist())
    assert {"pydantic/__init__.py", "phonenumbers/__init__.py", "fastavro/__init__.py"} <= names


def _third_party_imports(root: Path) -> set[str]:
    """Top-level modules that the job code (jobs/, common/ without the CLI-only parts) imports."""
    found = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"common", "jobs", "__future__"}


def test_every_module_the_jobs_import_is_shipped_or_comes_with_pyflink():
    """A module a job imports that neither the dependencies archive nor PyFlink's own requirements
    provide would fail on a TaskManager that has PyFlink alone: this catches it before a cluster."""
    provided = {}
    for dist in {**shipping.closure(shipping.JOB_DISTRIBUTIONS), **shipping.closure(["apache-flink"])}.values():
        for top in (dist.read_text("top_level.txt") or "").split():
            provided[top] = dist
        for entry in dist.files or []:
            provided.setdefault(Path(str(entry)).parts[0].removesuffix(".py"), dist)
    imported = _third_party_imports(REPO_ROOT / "jobs")
    # the CLI's and the stack's (S3, properties files, `headwater top`, refused savepoints), never on a TaskManager
    client_only = {"boto3", "botocore", "jproperties", "prometheus_client", "rich", "tqdm", "matplotlib", "mmh3"}
    imported |= _third_party_imports(REPO_ROOT / "common") - client_only
    assert imported - set(provided) == set(), "imported by the jobs but shipped by nothing"
    assert metadata.distribution("packaging")  # the requirement markers of `closure`


def test_a_job_for_a_cluster_runs_the_clusters_python_on_the_shipped_code_only(tmp_path):
    settings = _settings(tmp_path, HEADWATER_CLUSTER_PYTHON="/opt/flink-python/bin/python")
    keys = cluster_python(settings)
    assert keys["python.executable"] == "/opt/flink-python/bin/python"
    assert keys["python.pythonpath"] == "/opt/flink-python/lib/python3.11/site-packages"  # a venv's own
    default = cluster_python(_settings(tmp_path))
    assert default["python.executable"] == sys.executable and str(REPO_ROOT) in default["python.pythonpath"]


def test_pushed_gauges_hold_the_value_in_a_counter_and_compute_it_at_most_once_a_second():
    group, now, value = MetricGroup(), [100.0], [7]
    gauges = PushedGauges(group, every_s=1.0, clock=lambda: now[0])
    gauges.add("freshness_p50_ms", lambda: value[0])
    gauges.push()
    value[0] = 3
    gauges.push()  # within the second: not computed
    assert group.counters["freshness_p50_ms"].count == 7 and not group.gauges
    now[0] += 1.0
    gauges.push()
    assert group.counters["freshness_p50_ms"].count == 3


REVIVE = textwrap.dedent(
    """
    import os, pickle, shutil, sys
    first, second, blob = sys.argv[1:4]
    sys.path.insert(0, first)  # the first job's folder, as Flink extracted it
    import common.config
    shutil.rmtree(os.path.dirname(first))  # the job ended: Flink deleted its folder
    sys.path.insert(0, second)  # the next job's, as the interpreter is told of it
    function = pickle.loads(open(blob, "rb").read())
    import common.config
    print(type(function).__name__, common.config.__file__, function.stage_level)
    """
)


def test_a_function_revives_from_a_kept_copy_of_its_code_when_the_folder_it_came_from_is_gone(tmp_path):
    import cloudpickle

    from common.contracts.tenants import load_registry
    from jobs.action_streaming.level_operator import LevelStage
    from jobs.action_streaming.settings import ActionSettings

    archive = shipping.shipment(_settings(tmp_path)).code
    folders = []
    for job in ("job-1", "job-2"):
        folder = tmp_path / job / archive.stem
        zipfile.ZipFile(archive).extractall(folder)
        folders.append(folder)
    blob = tmp_path / "function.pkl"
    blob.write_bytes(cloudpickle.dumps(LevelStage(3, load_registry(), ActionSettings())))
    # this venv's site-packages for the dependencies; the code only from the shipped folders
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    run = subprocess.run(
        [sys.executable, "-c", REVIVE, str(folders[0]), str(folders[1]), str(blob)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    name, loaded_from, level = run.stdout.split()
    kept = tmp_path / "headwater-shipped" / archive.stem
    assert (name, level) == ("LevelStage", "3") and Path(loaded_from) == kept / "common" / "config.py"
