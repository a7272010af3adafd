import pytest

from common.config import ConfigError, load


def test_defaults_point_at_the_local_stack():
    s = load({})
    assert s.kafka_bootstrap == "127.0.0.1:19092"
    assert s.mongo_uri == "mongodb://127.0.0.1:27117/"
    assert s.s3_endpoint == "http://127.0.0.1:19000"
    assert s.checkpoints == "s3://headwater/checkpoints"
    assert s.checkpoint_bucket == "headwater"
    assert s.topic_prefix == "hw."


def test_without_s3_endpoint_checkpoints_fall_back_to_file(tmp_path):
    s = load({"HEADWATER_S3_ENDPOINT": "", "HEADWATER_DATA_DIR": str(tmp_path)})
    assert s.checkpoints == (tmp_path / "checkpoints").as_uri()
    assert s.checkpoint_bucket is None


def test_the_real_cluster_example_of_the_operations_guide_loads_as_written(tmp_path):
    """docs/operations.md: HEADWATER_S3_ENDPOINT empty with s3:// checkpoints means AWS S3 itself."""
    import re

    from common.config import REPO_ROOT
    from common.flink.settings import flink_settings

    guide = (REPO_ROOT / "docs" / "operations.md").read_text()
    example = guide[guide.index("export HEADWATER_FLINK=") :]
    env = dict(re.findall(r"^export (HEADWATER_\w+)=(\S*)", example[: example.index("```")], re.M))
    assert env["HEADWATER_S3_ENDPOINT"] == "" and env["HEADWATER_CHECKPOINTS"].startswith("s3://")
    s = load(env)
    assert (s.s3_endpoint, s.checkpoint_bucket, s.s3_access_key) == (None, "my-bucket", None)
    conf = flink_settings(s, "action-streaming")
    assert "s3.endpoint" not in conf and "s3.access-key" not in conf  # AWS's own endpoint and credentials
    assert conf["execution.checkpointing.dir"] == "s3://my-bucket/headwater/action-streaming"
    keyed = load({**env, "HEADWATER_S3_ACCESS_KEY": "AKIA", "HEADWATER_S3_SECRET_KEY": "shh"})
    assert (flink_settings(keyed)["s3.access-key"], flink_settings(keyed)["s3.secret-key"]) == ("AKIA", "shh")


@pytest.mark.parametrize("value", ["gs://bucket/x", "/plain/path"])
def test_unsupported_checkpoint_scheme(value):
    with pytest.raises(ConfigError, match="HEADWATER_CHECKPOINTS"):
        load({"HEADWATER_CHECKPOINTS": value})


def test_bad_kafka_address():
    with pytest.raises(ConfigError, match="HEADWATER_KAFKA='localhost' is not HOST:PORT"):
        load({"HEADWATER_KAFKA": "localhost"})


def test_a_declared_variable_reads_only_when_set_and_names_itself_when_bad():
    from common.variables import PositiveInt, Variable

    knob = Variable("HEADWATER_TEST_KNOB", 7, "a knob", kind=PositiveInt)
    assert knob.read({}) == 7
    assert knob.read({"HEADWATER_TEST_KNOB": "5"}) == 5
    for bad in ("0", "-3", "x", "1.5"):
        with pytest.raises(ConfigError, match=f"HEADWATER_TEST_KNOB={bad!r} must be a positive integer"):
            knob.read({"HEADWATER_TEST_KNOB": bad})


def test_a_variable_is_declared_once():
    from common.variables import declare

    with pytest.raises(ValueError, match="HEADWATER_KAFKA is declared twice"):
        declare("HEADWATER_KAFKA", "x", "again")
