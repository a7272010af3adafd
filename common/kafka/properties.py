"""Kafka client properties from one file (HEADWATER_KAFKA_PROPERTIES), for every Kafka client.

A secured Kafka (SASL, TLS) needs the same few properties in every client: the jobs' Flink sources and
sinks, the CLI's producer, consumers and admin. Operators already keep them in the Java properties
file that Kafka's own tools take (`--command-config`), so that is the format read here:

    security.protocol=SASL_SSL
    sasl.mechanism=PLAIN
    sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\
        username="app" password="secret";
    ssl.truststore.type=PEM
    ssl.truststore.location=/etc/kafka/ca.pem

The jobs' connectors are Java clients and take the file as it is. The CLI's clients are librdkafka
(confluent-kafka), which names some settings differently: those are translated here, and a property
librdkafka has no equivalent for is refused with its name, never dropped (a dropped truststore would
connect without the CA the operator gave, or not at all, with an error that names neither). Two
prefixes cover the rest: `java.NAME` goes to the jobs only, `librdkafka.NAME` to the CLI only (either
overrides the unprefixed NAME for its clients).
Properties Headwater sets itself (bootstrap servers, groups, transactions, isolation) are refused:
each has its own variable or must not change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from common.variables import ConfigError

VARIABLE = "HEADWATER_KAFKA_PROPERTIES"
JAVA_ONLY, LIBRDKAFKA_ONLY = "java.", "librdkafka."

# Set by Headwater for every client; the value says where instead.
RESERVED = {
    "bootstrap.servers": "set HEADWATER_KAFKA",
    "group.id": "each job names its own consumer group",
    "transactional.id": "each job names its own transactional ids",
    "transaction.timeout.ms": "set HEADWATER_KAFKA_TRANSACTION_TIMEOUT_MS",
    "isolation.level": "Headwater reads read_committed, always",
    "enable.idempotence": "Headwater's producers are idempotent, always",
    "enable.auto.commit": "offsets are committed by the jobs' checkpoints",
    "key.serializer": "records are bytes",
    "value.serializer": "records are bytes",
    "key.deserializer": "records are bytes",
    "value.deserializer": "records are bytes",
}

# Java client property -> librdkafka property of the same meaning and values.
SAME_MEANING = {
    "security.protocol": "security.protocol",
    "sasl.mechanism": "sasl.mechanisms",
    "client.id": "client.id",
    "sasl.kerberos.service.name": "sasl.kerberos.service.name",
    "ssl.key.password": "ssl.key.password",
    "ssl.keystore.password": "ssl.keystore.password",
}
# Consumed by the translation of another property.
CONSUMED = {"ssl.truststore.type", "ssl.keystore.type", "ssl.truststore.password"}

_JAAS = re.compile(r"^\s*(?P<module>[\w.$]+)\s+(?:required|requisite|sufficient|optional)(?P<options>.*?);?\s*$", re.S)
_OPTION = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|(\S+?))(?=\s|;|$)')
_USER_PASSWORD_MODULES = ("PlainLoginModule", "ScramLoginModule")


@dataclass(frozen=True)
class KafkaProperties:
    """The file's properties, split per client family."""

    source: str  # where they came from, for error messages
    java: dict[str, str]
    librdkafka: dict[str, str]


NONE = KafkaProperties(source="", java={}, librdkafka={})


def load(path: str | None) -> KafkaProperties:
    """The properties of the file at `path` (None or empty: none). ConfigError naming the file and the
    property for anything that cannot work."""
    if not path:
        return NONE
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"{VARIABLE}={path}: no such file (a Java properties file of Kafka client settings)")
    from jproperties import Properties

    parsed = Properties()
    with open(file, "rb") as handle:
        parsed.load(handle, "utf-8")
    return split({key: value for key, (value, _meta) in parsed.items()}, source=f"{VARIABLE}={path}")


def split(properties: dict[str, str], source: str) -> KafkaProperties:
    """Java properties -> the jobs' properties and the CLI's librdkafka configuration."""
    librdkafka = {}
    java = {key: value for key, value in properties.items() if not key.startswith((JAVA_ONLY, LIBRDKAFKA_ONLY))}
    java.update(  # a prefixed property overrides the unprefixed one, wherever it is in the file
        {key.removeprefix(JAVA_ONLY): value for key, value in properties.items() if key.startswith(JAVA_ONLY)}
    )
    for key in java:
        if key in RESERVED:
            raise ConfigError(f"{source}: {key} cannot be set there ({RESERVED[key]})")
    for key, value in properties.items():
        if key.startswith((JAVA_ONLY, LIBRDKAFKA_ONLY)) or key in CONSUMED:
            continue
        librdkafka.update(_translate(key, value, properties, source))
    for key, value in properties.items():
        if key.startswith(LIBRDKAFKA_ONLY):
            name = key.removeprefix(LIBRDKAFKA_ONLY)
            if name in RESERVED:
                raise ConfigError(f"{source}: {key} cannot be set there ({RESERVED[name]})")
            librdkafka[name] = value
    return KafkaProperties(source=source, java=java, librdkafka=librdkafka)


def _translate(key: str, value: str, properties: dict[str, str], source: str) -> dict[str, str]:
    if key in SAME_MEANING:
        return {SAME_MEANING[key]: value}
    if key == "ssl.endpoint.identification.algorithm":
        return {key: value or "none"}
    if key == "sasl.jaas.config":
        return _jaas(value, source)
    if key == "ssl.truststore.location":
        if properties.get("ssl.truststore.type", "JKS").upper() != "PEM":
            raise _untranslatable(source, key, "the CLI's client reads PEM CA files: set ssl.truststore.type=PEM")
        return {"ssl.ca.location": value}
    if key == "ssl.keystore.location":
        if properties.get("ssl.keystore.type", "JKS").upper() != "PKCS12":
            raise _untranslatable(source, key, "the CLI's client reads PKCS#12 keystores: set ssl.keystore.type=PKCS12")
        return {key: value}
    raise _untranslatable(source, key, "librdkafka, the CLI's Kafka client, has no property of that meaning")


def _jaas(value: str, source: str) -> dict[str, str]:
    match = _JAAS.match(value)
    if match is None:
        raise ConfigError(f'{source}: sasl.jaas.config is not `<LoginModule class> required key="value" …;`')
    module = match["module"].rsplit(".", 1)[-1]
    if module not in _USER_PASSWORD_MODULES:
        raise _untranslatable(source, "sasl.jaas.config", f"{module} has no username/password to hand over")
    options = {name: quoted or bare for name, quoted, bare in _OPTION.findall(match["options"])}
    missing = [name for name in ("username", "password") if name not in options]
    if missing:
        raise ConfigError(f"{source}: sasl.jaas.config has no {' and no '.join(missing)}")
    return {"sasl.username": _unescape(options["username"]), "sasl.password": _unescape(options["password"])}


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _untranslatable(source: str, key: str, why: str) -> ConfigError:
    return ConfigError(
        f"{source}: {key}: {why}; put the jobs' setting under `{JAVA_ONLY}{key}` and the CLI's as "
        f"`{LIBRDKAFKA_ONLY}<name>` (librdkafka's CONFIGURATION.md)"
    )
