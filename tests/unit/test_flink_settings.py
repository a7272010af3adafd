"""The settings every job runs with (issue: RocksDB, incremental checkpoints, thread mode, S3)."""

import sys

import pytest

from common.config import load
from common.flink import settings as fs


@pytest.fixture
def tools(tmp_path):
    for name in (fs.KAFKA_CONNECTOR_JAR, fs.SUPPORT_JAR):
        jar = tmp_path / "flink" / name
        jar.parent.mkdir(parents=True, exist_ok=True)
        jar.write_bytes(b"")
    plugin = tmp_path / "flink" / "plugins" / "s3-fs-presto" / "flink-s3-fs-presto.jar"
    plugin.parent.mkdir(parents=True)
    plugin.write_bytes(b"")
    return tmp_path


def test_static_settings(tools):
    conf = fs.flink_settings(load({"HEADWATER_TOOLS_DIR": str(tools)}), "skeleton")
    assert conf["state.backend.type"] == "rocksdb"
    assert conf["execution.checkpointing.incremental"] == "true"
    assert conf["execution.checkpointing.mode"] == "EXACTLY_ONCE"
    assert conf["execution.checkpointing.externalized-checkpoint-retention"] == "RETAIN_ON_CANCELLATION"
    for key in ("interval", "min-pause", "timeout", "max-concurrent-checkpoints"):
        assert f"execution.checkpointing.{key}" in conf
    assert conf["python.execution-mode"] == "thread"
    assert conf["python.executable"] == sys.executable
    assert int(conf["pipeline.max-parallelism"]) >= 128


def test_checkpoints_on_s3_with_endpoint_and_keys(tools):
    conf = fs.flink_settings(load({"HEADWATER_TOOLS_DIR": str(tools)}), "skeleton")
    assert conf["execution.checkpointing.dir"] == "s3://headwater/checkpoints/skeleton"
    assert conf["execution.checkpointing.savepoint-dir"] == "s3://headwater/checkpoints/skeleton/savepoints"
    assert conf["s3.endpoint"] == "http://127.0.0.1:19000"
    assert conf["s3.path.style.access"] == "true"
    jars = conf["pipeline.jars"].split(";")
    assert jars[0].endswith("flink-sql-connector-kafka-5.0.0-2.2.jar") and jars[1].endswith(
        "headwater-flink-support.jar"
    )


def test_file_checkpoints_when_no_s3(tools, tmp_path):
    s = load({"HEADWATER_TOOLS_DIR": str(tools), "HEADWATER_S3_ENDPOINT": "", "HEADWATER_DATA_DIR": str(tmp_path)})
    conf = fs.flink_settings(s, "skeleton")
    assert conf["execution.checkpointing.dir"].startswith("file://")
    assert "s3.endpoint" not in conf


def test_missing_connector_jar_says_run_make_setup(tmp_path):
    with pytest.raises(fs.FlinkSetupError, match="make setup"):
        fs.flink_settings(load({"HEADWATER_TOOLS_DIR": str(tmp_path)}), "skeleton")


def test_rendered_conf_dir_is_valid_yaml_with_every_key(tools, tmp_path):
    import yaml

    s = load({"HEADWATER_TOOLS_DIR": str(tools)})
    target = fs.render_conf_dir(s, tmp_path / "conf")
    rendered = yaml.safe_load((target / "config.yaml").read_text())
    assert {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in rendered.items()} == fs.flink_settings(s)


def test_conf_dirs_are_per_content_so_concurrent_runs_never_clobber_each_other(tools, tmp_path):
    first = fs.render_conf_dir(load({"HEADWATER_TOOLS_DIR": str(tools)}), tmp_path / "conf")
    again = fs.render_conf_dir(load({"HEADWATER_TOOLS_DIR": str(tools)}), tmp_path / "conf")
    other = fs.render_conf_dir(
        load({"HEADWATER_TOOLS_DIR": str(tools), "HEADWATER_S3_ENDPOINT": "http://127.0.0.1:9"}), tmp_path / "conf"
    )
    assert first == again != other
    assert not list(first.glob(".*.tmp"))


def test_the_checkpoint_interval_can_be_set_from_the_environment(tools):
    base = {"HEADWATER_TOOLS_DIR": str(tools)}
    assert fs.flink_settings(load(base), "skeleton")["execution.checkpointing.interval"] == "2 s"
    conf = fs.flink_settings(load({**base, "HEADWATER_CHECKPOINT_INTERVAL_MS": "750"}), "skeleton")
    assert conf["execution.checkpointing.interval"] == "750 ms"
    with pytest.raises(ValueError, match="HEADWATER_CHECKPOINT_INTERVAL_MS='1s' must be a positive integer"):
        load({**base, "HEADWATER_CHECKPOINT_INTERVAL_MS": "1s"})
