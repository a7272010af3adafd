"""HEADWATER_KAFKA_PROPERTIES: one Java properties file, as the jobs' Java clients and the CLI's
librdkafka clients each need it; whatever cannot be honoured is refused with its name."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from common import config
from common.kafka import clients, properties
from common.variables import ConfigError

SASL_FILE = r"""# as Kafka's own tools take it (--command-config)
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
    username="app" password="p\\"w;d";
ssl.truststore.type=PEM
ssl.truststore.location=/etc/kafka/ca.pem
ssl.endpoint.identification.algorithm=
client.id=headwater-prod
java.sasl.login.retry.backoff.ms=500
librdkafka.socket.keepalive.enable=true
"""


def write(tmp_path, text: str) -> str:
    path = tmp_path / "client.properties"
    path.write_text(text)
    return str(path)


def test_the_jobs_get_the_file_as_it_is_and_the_cli_gets_librdkafka_names(tmp_path):
    loaded = properties.load(write(tmp_path, SASL_FILE))
    assert loaded.java == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": 'org.apache.kafka.common.security.scram.ScramLoginModule required username="app" '
        'password="p\\"w;d";',
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": "/etc/kafka/ca.pem",
        "ssl.endpoint.identification.algorithm": "",
        "client.id": "headwater-prod",
        "sasl.login.retry.backoff.ms": "500",
    }
    assert loaded.librdkafka == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "app",
        "sasl.password": 'p"w;d',
        "ssl.ca.location": "/etc/kafka/ca.pem",
        "ssl.endpoint.identification.algorithm": "none",
        "client.id": "headwater-prod",
        "socket.keepalive.enable": "true",
    }


def test_librdkafka_takes_every_translated_name(tmp_path):
    """Constructing a client checks every property name and value (it connects lazily)."""
    plain = write(tmp_path, SASL_FILE.replace("SASL_SSL", "SASL_PLAINTEXT").replace("ssl.truststore", "java.ssl.t"))
    Producer({"bootstrap.servers": "127.0.0.1:1", **properties.load(plain).librdkafka}).flush(0)


def test_the_settings_refuse_a_file_that_cannot_work(tmp_path):
    with pytest.raises(ConfigError, match=r"HEADWATER_KAFKA_PROPERTIES=.*: no such file"):
        config.load({"HEADWATER_KAFKA_PROPERTIES": str(tmp_path / "missing.properties")})
    assert config.load({}).kafka_properties is None
    assert clients.properties_of(config.load({})) == properties.NONE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bootstrap.servers=b:9092", r"bootstrap.servers cannot be set there \(set HEADWATER_KAFKA\)"),
        ("librdkafka.group.id=g", r"librdkafka.group.id cannot be set there"),
        ("isolation.level=read_uncommitted", r"isolation.level cannot be set there"),
        ("ssl.truststore.location=/ca.jks", r"ssl.truststore.location: the CLI's client reads PEM.*java\.ssl"),
        ("ssl.keystore.location=/k.jks", r"ssl.keystore.location: the CLI's client reads PKCS#12"),
        ("sasl.login.refresh.window.factor=0.8", r"sasl.login.refresh.window.factor: librdkafka.*has no property"),
        (
            "sasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;",
            r"sasl.jaas.config: Krb5LoginModule has no username/password",
        ),
        (
            'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="u";',
            r"sasl.jaas.config has no password",
        ),
        ("sasl.jaas.config=nonsense", r"sasl.jaas.config is not"),
    ],
)
def test_what_cannot_be_honoured_is_refused_with_its_name(tmp_path, text, message):
    path = write(tmp_path, text + "\n")
    with pytest.raises(ConfigError, match=rf"HEADWATER_KAFKA_PROPERTIES={path}: {message}"):
        properties.load(path)


def test_a_java_only_property_is_not_translated(tmp_path):
    loaded = properties.load(
        write(tmp_path, "java.ssl.truststore.location=/ca.jks\nlibrdkafka.ssl.ca.location=/ca.pem\n")
    )
    assert loaded.java == {"ssl.truststore.location": "/ca.jks"}
    assert loaded.librdkafka == {"ssl.ca.location": "/ca.pem"}


def test_the_jobs_name_kafkas_classes_as_the_relocating_connector_does():
    from common.flink.kafka import shaded

    jaas = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";'
    assert shaded(jaas) == "org.apache.flink.kafka.shaded." + jaas
    assert shaded(shaded(jaas)) == shaded(jaas)  # already relocated: unchanged
    assert shaded("com.example.org.apache.kafka.Handler") == "com.example.org.apache.kafka.Handler"


def test_a_prefixed_property_overrides_the_unprefixed_one_wherever_it_is(tmp_path):
    text = "java.client.id=jobs\nclient.id=both\nlibrdkafka.client.id=cli\n"
    loaded = properties.load(write(tmp_path, text))
    assert loaded.java == {"client.id": "jobs"} and loaded.librdkafka == {"client.id": "cli"}
