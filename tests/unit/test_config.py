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


def test_positive_ints_reads_only_set_variables_and_names_a_bad_one():
    import pytest

    from common.config import ConfigError, positive_ints

    assert positive_ints({"A": "5"}, {"a": "A", "b": "B"}) == {"a": 5}
    for bad in ("0", "-3", "x", "1.5"):
        with pytest.raises(ConfigError, match=f"B={bad!r} must be a positive integer"):
            positive_ints({"B": bad}, {"b": "B"})
