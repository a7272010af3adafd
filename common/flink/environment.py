"""Build the StreamExecutionEnvironment every Headwater job runs in.

`job_environment` is the only place a job gets its environment: RocksDB with incremental checkpoints,
checkpoint storage on HEADWATER_CHECKPOINTS (S3 on MinIO locally), Python thread mode, the Kafka
connector attached. It must run before anything else touches PyFlink, because the Java gateway reads
FLINK_CONF_DIR and FLINK_PLUGINS_DIR once, when it starts.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

from common.config import Settings
from common.flink.settings import (
    cluster_python,
    flink_home,
    flink_settings,
    plugins_dir,
    render_conf_dir,
    venv_site_packages,
)
from common.flink.shipping import shipment
from common.flink.temp_dirs import jvm_temp_options, local_run_folder

LOCAL_REST_PORTS = "8081-8180"


def prepare_gateway_environment(settings: Settings) -> None:
    """Point the PyFlink gateway (and the MiniCluster inside it) at our conf and plugins."""
    conf_dir = render_conf_dir(settings, settings.data_dir / "flink" / "conf")
    os.environ["FLINK_CONF_DIR"] = str(conf_dir)
    plugins = plugins_dir(settings)
    os.environ["FLINK_PLUGINS_DIR"] = str(plugins)
    if settings.metrics_ports:
        _reporter_on_gateway_classpath(plugins)
    os.environ.setdefault("FLINK_HOME", str(flink_home()))
    log_dir = settings.data_dir / "logs" / "flink"
    log_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("FLINK_LOG_DIR", str(log_dir))
    # The gateway JVM (and its MiniCluster) keeps its temporary files in a folder of this process's,
    # cleared by the next run if this one is killed (common/flink/temp_dirs.py).
    if "-Djava.io.tmpdir=" not in os.environ.get("JVM_ARGS", ""):
        temp = jvm_temp_options(local_run_folder(settings.data_dir / "flink" / "tmp"))
        os.environ["JVM_ARGS"] = " ".join(filter(None, [os.environ.get("JVM_ARGS", ""), temp]))


def _reporter_on_gateway_classpath(plugins) -> None:
    """The embedded MiniCluster finds metric reporters on its classpath only (it does not look in
    plugins/, as a cluster's processes do): the Prometheus reporter's jar joins the gateway's classpath
    through HADOOP_CLASSPATH, the one variable PyFlink's launcher appends to it."""
    jars = [str(jar) for jar in sorted(plugins.glob("metrics-prometheus/*.jar"))]
    present = os.environ.get("HADOOP_CLASSPATH", "")
    missing = [jar for jar in jars if jar not in present.split(os.pathsep)]
    if missing:
        os.environ["HADOOP_CLASSPATH"] = os.pathsep.join([*filter(None, [present]), *missing])


def _initialize_file_systems() -> None:
    """Load the S3 plugin into the gateway JVM.

    A standalone cluster's processes load `plugins/` when they start; the embedded MiniCluster does
    not, and then fails with "Could not find a file system implementation for scheme 's3'". So the
    file systems are initialised here, from FLINK_CONF_DIR (S3 endpoint and keys) and FLINK_PLUGINS_DIR.
    """
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    conf = jvm.org.apache.flink.configuration.GlobalConfiguration.loadConfiguration(os.environ["FLINK_CONF_DIR"])
    plugins = jvm.org.apache.flink.core.plugin.PluginUtils.createPluginManagerFromRootFolder(conf)
    jvm.org.apache.flink.core.fs.FileSystem.initialize(conf, plugins)


def job_environment(
    settings: Settings,
    job: str,
    *,
    parallelism: int | None = None,
    restore_from: str | None = None,
    cluster: str | None = None,
):
    """A StreamExecutionEnvironment for `job`, optionally restoring from a savepoint or retained checkpoint.

    Without `cluster` the job runs on an embedded MiniCluster in this process (`headwater run`). With a
    cluster's REST address (http://HOST:PORT) `execute_async` submits it there (`headwater submit`):
    the same settings travel in the job's configuration."""
    prepare_gateway_environment(settings)
    from pyflink.datastream import StreamExecutionEnvironment

    _initialize_file_systems()
    conf = _job_configuration(settings, job, shipped=cluster is not None)
    if parallelism is not None:
        conf.set_string("parallelism.default", str(parallelism))
    if restore_from:
        conf.set_string("execution.state-recovery.path", restore_from)
    if cluster is None:
        # The embedded MiniCluster serves its web UI on the first free port of a range, so several local
        # jobs (a demo beside a test, say) can run at once; a standalone cluster keeps rest.port.
        conf.set_string("rest.bind-port", LOCAL_REST_PORTS)
        return StreamExecutionEnvironment.get_execution_environment(conf)
    parsed = urlparse(cluster)
    conf.set_string("execution.target", "remote")
    conf.set_string("execution.attached", "false")
    conf.set_string("rest.address", parsed.hostname)
    conf.set_string("rest.port", str(parsed.port or 8081))
    # getExecutionEnvironment would make a local environment (it forces the target to "local") when not
    # started by `flink run`; the plain constructor honours execution.target.
    from pyflink.java_gateway import get_gateway

    java_env = get_gateway().jvm.org.apache.flink.streaming.api.environment.StreamExecutionEnvironment(
        conf._j_configuration
    )
    return StreamExecutionEnvironment(java_env)


def application_environment(settings: Settings, job: str):
    """The environment of a job in an application cluster (jobs/application.py): the cluster is up
    and its file systems and plugins are loaded, so only the job's settings are applied."""
    from pyflink.datastream import StreamExecutionEnvironment

    return StreamExecutionEnvironment.get_execution_environment(_job_configuration(settings, job))


def _job_configuration(settings: Settings, job: str, shipped: bool = False):
    """Every Flink key of `job` (common/flink/settings.py) as a PyFlink Configuration. `shipped`: for a
    cluster, whose TaskManagers get the code and its dependencies with the job (common/flink/shipping.py)
    and run them with the cluster's Python, never from this checkout."""
    from pyflink.common import Configuration

    keys = flink_settings(settings, job)
    if shipped:
        keys.update(cluster_python(settings))
        if settings.cluster_python is None:  # this venv's python: the shipped archives, not the checkout
            keys["python.pythonpath"] = venv_site_packages()
        keys["python.files"] = shipment(settings).python_files()
    conf = Configuration()
    for key, value in keys.items():
        conf.set_string(key, value)
    return conf


def subtask_index(runtime_context) -> int:
    """This subtask's index. PyFlink 2.x's `get_index_of_this_subtask` calls a method Flink 2 moved to
    `getTaskInfo()`, so ask the Java runtime context the Flink 2 way (thread mode), else PyFlink."""
    java = getattr(runtime_context, "_runtime_context", None)
    if java is not None and hasattr(java, "getTaskInfo"):
        return int(java.getTaskInfo().getIndexOfThisSubtask())
    return runtime_context.get_index_of_this_subtask()
