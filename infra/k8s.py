"""FlinkDeployment manifests for the Flink Kubernetes operator: one per job (`headwater k8s render`).

Each job runs as its own application cluster. The operator upgrades it with `upgradeMode: last-state`:
on a new image or spec it restarts the job from its newest checkpoint, through Flink's Kubernetes HA
metadata. That is the operator's form of Headwater's rule that a job never starts empty over progress
(docs/operations.md). Checkpoints, savepoints and the HA store go to S3: a pod's disk does not
outlive the pod.

The manifests assume an image with Flink 2.2, Python 3.11 and this repository installed at
IMAGE_ROOT with `make setup` done (venv, connector jars), as docs/operations.md describes. The
settings the jobs read from HEADWATER_* come from the environment that renders them; the MongoDB URI,
the S3 keys and the Kafka properties file come from the Kubernetes secret SECRET.
"""

from __future__ import annotations

from pathlib import Path

from common.config import Settings
from common.errors import HeadwaterError

IMAGE_ROOT = "/opt/headwater"
IMAGE_PYTHON = f"{IMAGE_ROOT}/.venv/bin/python"
SECRET = "headwater"
KAFKA_PROPERTIES_MOUNT = "/etc/headwater/kafka.properties"
# Set by the operator and Kubernetes, or only meaningful on this machine (paths, loopback addresses).
LOCAL_ONLY = {
    "jobmanager.bind-host",
    "jobmanager.rpc.address",
    "jobmanager.rpc.port",
    "taskmanager.bind-host",
    "taskmanager.host",
    "rest.address",
    "rest.bind-address",
    "rest.port",
    "jobmanager.memory.process.size",
    "taskmanager.memory.process.size",
    "taskmanager.numberOfTaskSlots",
    "parallelism.default",
    "s3.access-key",
    "s3.secret-key",
}


class DeploymentError(HeadwaterError):
    pass


def flink_deployment(
    settings: Settings,
    job: str,
    *,
    image: str,
    namespace: str = "default",
    parallelism: int = 2,
    slots: int = 2,
) -> dict:
    """The FlinkDeployment of `job` (a dict, for YAML)."""
    from common.flink.settings import PROMETHEUS_REPORTER, connector_jars, flink_home, flink_jars_dir, flink_settings

    if settings.checkpoint_bucket is None:
        raise DeploymentError(
            f"HEADWATER_CHECKPOINTS={settings.checkpoints}: a Kubernetes deployment needs s3:// checkpoints (a "
            f"pod's disk does not outlive it)"
        )
    _refuse_loopback(settings)
    conf = {key: value for key, value in flink_settings(settings, job).items() if key not in LOCAL_ONLY}
    conf.update(
        {
            "python.executable": IMAGE_PYTHON,
            "python.client.executable": IMAGE_PYTHON,
            "python.pythonpath": IMAGE_ROOT,
            "pipeline.jars": ";".join(
                f"file://{IMAGE_ROOT}/.tools/flink/{jar.relative_to(flink_jars_dir(settings))}"
                for jar in connector_jars(settings)
            ),
            "taskmanager.numberOfTaskSlots": str(slots),
            "high-availability.type": "kubernetes",
            "high-availability.storageDir": f"{settings.checkpoints}/{job}/ha",
            "metrics.reporter.prom.factory.class": PROMETHEUS_REPORTER,
            "metrics.reporter.prom.port": "9249",
        }
    )
    flink_python = next((flink_home() / "opt").glob("flink-python-*.jar")).name
    return {
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkDeployment",
        "metadata": {
            "name": f"headwater-{job}",
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "headwater", "headwater/job": job},
        },
        "spec": {
            "image": image,
            "flinkVersion": "v2_2",
            "serviceAccount": "flink",
            "flinkConfiguration": dict(sorted(conf.items())),
            "podTemplate": _pod_template(settings),
            "jobManager": {"resource": {"memory": "1024m", "cpu": 1}},
            "taskManager": {"resource": {"memory": "2048m", "cpu": 1}},
            "job": {
                "jarURI": f"local:///opt/flink/opt/{flink_python}",
                "entryClass": "org.apache.flink.client.python.PythonDriver",
                "args": ["-pyclientexec", IMAGE_PYTHON, "-py", f"{IMAGE_ROOT}/jobs/application.py", job],
                "parallelism": parallelism,
                "upgradeMode": "last-state",
                "state": "running",
            },
        },
    }


def _refuse_loopback(settings: Settings) -> None:
    """The pods cannot reach this machine's loopback: the local stack's defaults are a mistake here."""
    from urllib.parse import urlparse

    kafka_hosts = [server.rsplit(":", 1)[0] for server in settings.kafka_bootstrap.split(",")]
    s3_host = urlparse(settings.s3_endpoint).hostname if settings.s3_endpoint else None
    for variable, host in [*(("HEADWATER_KAFKA", h) for h in kafka_hosts), ("HEADWATER_S3_ENDPOINT", s3_host)]:
        if host in ("127.0.0.1", "localhost", "::1"):
            raise DeploymentError(
                f"{variable} points at this machine's loopback ({host}), which no pod reaches: set it to the "
                f"address the cluster uses (HEADWATER_S3_ENDPOINT= empty for AWS S3 itself)"
            )


def _pod_template(settings: Settings) -> dict:
    plain = {
        "HEADWATER_KAFKA": settings.kafka_bootstrap,
        "HEADWATER_MONGO_DB": settings.mongo_database,
        "HEADWATER_S3_ENDPOINT": settings.s3_endpoint or "",
        "HEADWATER_CHECKPOINTS": settings.checkpoints,
        "HEADWATER_TOPIC_PREFIX": settings.topic_prefix,
    }
    env = [{"name": name, "value": value} for name, value in plain.items()]
    secret = {"HEADWATER_MONGO_URI": "mongo-uri"}
    if settings.s3_access_key is not None:
        secret.update({"HEADWATER_S3_ACCESS_KEY": "s3-access-key", "HEADWATER_S3_SECRET_KEY": "s3-secret-key"})
    env += [{"name": n, "valueFrom": {"secretKeyRef": {"name": SECRET, "key": k}}} for n, k in secret.items()]
    container = {"name": "flink-main-container", "env": env}
    spec: dict = {"containers": [container]}
    if settings.kafka_properties:
        env.append({"name": "HEADWATER_KAFKA_PROPERTIES", "value": KAFKA_PROPERTIES_MOUNT})
        container["volumeMounts"] = [
            {"name": "kafka-properties", "mountPath": KAFKA_PROPERTIES_MOUNT, "subPath": "kafka.properties"}
        ]
        spec["volumes"] = [{"name": "kafka-properties", "secret": {"secretName": SECRET}}]
    return {"apiVersion": "v1", "kind": "Pod", "spec": spec}


def render(
    settings: Settings, jobs: list[str], out_dir: Path, *, image: str, namespace: str, parallelism: int
) -> list[Path]:
    """One YAML file per job under `out_dir`; returns their paths."""
    import yaml

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for job in jobs:
        manifest = flink_deployment(settings, job, image=image, namespace=namespace, parallelism=parallelism)
        path = out_dir / f"headwater-{job}.yaml"
        path.write_text(yaml.safe_dump(manifest, sort_keys=False, width=120))
        written.append(path)
    return written
