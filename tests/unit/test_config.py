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


def test_s3_checkpoints_without_endpoint_say_what_to_fix():
    with pytest.raises(ConfigError, match="HEADWATER_S3_ENDPOINT is empty"):
        load({"HEADWATER_S3_ENDPOINT": "", "HEADWATER_CHECKPOINTS": "s3://b/c"})


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
