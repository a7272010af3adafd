"""`headwater k8s render`: one FlinkDeployment per job for the Flink Kubernetes operator, checked field
by field (infra/k8s.py). Not applied to a Kubernetes cluster here; these are the fields the operator
and the jobs depend on."""

from __future__ import annotations

import pytest
import yaml

from common import config
from common.config import REPO_ROOT
from infra import k8s
from infra.k8s import DeploymentError, render

JOBS = ["action-streaming", "api-unification", "profile-dedupe", "reaction-streaming"]
PRODUCTION = {
    "HEADWATER_KAFKA": "kafka-0.kafka:9092,kafka-1.kafka:9092",
    "HEADWATER_S3_ENDPOINT": "",  # AWS S3 itself
    "HEADWATER_CHECKPOINTS": "s3://acme-flink/headwater",
    "HEADWATER_TOPIC_PREFIX": "hw.",
}


def rendered(tmp_path, **extra) -> dict[str, dict]:
    settings = config.load({**PRODUCTION, **extra})
    paths = render(settings, JOBS, tmp_path, image="registry.example/headwater:1.2", namespace="data", parallelism=4)
    return {path.stem.removeprefix("headwater-"): yaml.safe_load(path.read_text()) for path in paths}


def test_one_application_deployment_per_job_upgraded_from_its_last_state(tmp_path):
    manifests = rendered(tmp_path)
    assert sorted(manifests) == JOBS
    for job, manifest in manifests.items():
        assert (manifest["apiVersion"], manifest["kind"]) == ("flink.apache.org/v1beta1", "FlinkDeployment")
        assert manifest["metadata"]["name"] == f"headwater-{job}" and manifest["metadata"]["namespace"] == "data"
        spec = manifest["spec"]
        assert spec["flinkVersion"] == "v2_2" and spec["image"] == "registry.example/headwater:1.2"
        run = spec["job"]
        assert run["upgradeMode"] == "last-state" and run["state"] == "running" and run["parallelism"] == 4
        assert run["entryClass"] == "org.apache.flink.client.python.PythonDriver"
        assert run["jarURI"].startswith("local:///opt/flink/opt/flink-python-") and run["jarURI"].endswith(".jar")
        script = run["args"][run["args"].index("-py") + 1]
        assert script == f"{k8s.IMAGE_ROOT}/jobs/application.py" and (REPO_ROOT / "jobs" / "application.py").is_file()
        assert run["args"][-1] == job


def test_checkpoints_savepoints_and_ha_live_on_s3_and_nothing_points_at_this_machine(tmp_path):
    for job, manifest in rendered(tmp_path).items():
        conf = manifest["spec"]["flinkConfiguration"]
        assert conf["execution.checkpointing.dir"] == f"s3://acme-flink/headwater/{job}"
        assert conf["execution.checkpointing.savepoint-dir"] == f"s3://acme-flink/headwater/{job}/savepoints"
        assert conf["high-availability.type"] == "kubernetes"  # last-state upgrades read the HA metadata
        assert conf["high-availability.storageDir"].startswith("s3://acme-flink/headwater/")
        assert conf["state.backend.type"] == "rocksdb" and conf["python.execution-mode"] == "thread"
        assert conf["pipeline.auto-generate-uids"] == "false"
        assert conf["python.executable"] == k8s.IMAGE_PYTHON
        assert all(jar.startswith(f"file://{k8s.IMAGE_ROOT}/") for jar in conf["pipeline.jars"].split(";"))
        assert conf["metrics.reporter.prom.port"] == "9249"
        text = yaml.safe_dump(manifest)
        assert "127.0.0.1" not in text and str(REPO_ROOT) not in text and "s3.access-key" not in conf


def test_the_pods_get_the_settings_and_the_secrets_by_reference(tmp_path):
    manifest = rendered(tmp_path, HEADWATER_KAFKA_PROPERTIES=str(_properties(tmp_path)))["action-streaming"]
    pod = manifest["spec"]["podTemplate"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["HEADWATER_KAFKA"]["value"] == PRODUCTION["HEADWATER_KAFKA"]
    assert env["HEADWATER_MONGO_URI"]["valueFrom"]["secretKeyRef"] == {"name": k8s.SECRET, "key": "mongo-uri"}
    assert env["HEADWATER_KAFKA_PROPERTIES"]["value"] == k8s.KAFKA_PROPERTIES_MOUNT
    assert pod["volumes"] == [{"name": "kafka-properties", "secret": {"secretName": k8s.SECRET}}]
    assert "HEADWATER_S3_ACCESS_KEY" not in env  # AWS S3 without keys: the pods' own credentials


def _properties(tmp_path):
    path = tmp_path / "client.properties"
    path.write_text("security.protocol=SSL\n")
    return path


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"HEADWATER_CHECKPOINTS": "file:///tmp/cp"}, "needs s3:// checkpoints"),
        ({"HEADWATER_KAFKA": "127.0.0.1:19092"}, "HEADWATER_KAFKA points at this machine's loopback"),
        ({"HEADWATER_S3_ENDPOINT": "http://localhost:19000"}, "HEADWATER_S3_ENDPOINT points at"),
    ],
)
def test_settings_that_cannot_work_in_a_pod_are_refused(tmp_path, override, message):
    with pytest.raises(DeploymentError, match=message):
        rendered(tmp_path, **override)
