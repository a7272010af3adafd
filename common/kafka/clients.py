"""The configuration of every confluent-kafka client: bootstrap servers, HEADWATER_KAFKA_PROPERTIES,
and a login check.

Why the check: librdkafka retries a refused login for ever and never fails the call that needs it. An
admin request ends as a "transport failure" after its timeout, a producer queues records until they
expire (5 minutes), and listing consumer groups answers with the error tucked inside its result. A
wrong password looks like a slow or empty broker, and `headwater run` could take "no consumer groups"
for "never read before". So before the first client of a process that uses a properties file, one
short-lived producer connects and waits for metadata or a refusal. A refused login or TLS handshake
stops the command with one line that names the file.
"""

from __future__ import annotations

import functools
import logging
import time

from confluent_kafka import KafkaError, KafkaException, Producer

from common.errors import HeadwaterError
from common.kafka.properties import KafkaProperties, load

REFUSED_LOGIN = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED}
FAILED_TLS = {KafkaError._SSL}
CHECK_TIMEOUT_S = 10.0

_silent = logging.getLogger("headwater.kafka.login-check")
_silent.addHandler(logging.NullHandler())
_silent.propagate = False  # the refusal is reported once, as one line; librdkafka repeats it per retry


class KafkaLoginRefused(HeadwaterError):
    pass


def properties_of(settings) -> KafkaProperties:
    """The properties HEADWATER_KAFKA_PROPERTIES names for these settings (each file read once)."""
    return _load_once(settings.kafka_properties or "")


def client_config(settings, conf: dict | None = None) -> dict:
    """A confluent-kafka client configuration: the bootstrap servers, the file's properties for
    librdkafka, then the client's own `conf` (none of which the file may set). With a properties file,
    the first call of a process checks the login first (KafkaLoginRefused)."""
    if settings.kafka_properties:
        _check_login_once(settings.kafka_bootstrap, settings.kafka_properties)
    return {"bootstrap.servers": settings.kafka_bootstrap, **properties_of(settings).librdkafka, **(conf or {})}


@functools.lru_cache(maxsize=8)
def _load_once(path: str) -> KafkaProperties:
    return load(path)


@functools.cache
def _check_login_once(bootstrap: str, path: str) -> None:
    check_login(bootstrap, _load_once(path))


def check_login(bootstrap: str, properties: KafkaProperties, timeout: float = CHECK_TIMEOUT_S) -> bool:
    """Connect once: True when the broker answered metadata, False when it did not answer within
    `timeout` (the command then reports an unreachable broker as it would anyway); KafkaLoginRefused
    when it refused the login or the TLS handshake."""
    errors: list[KafkaError] = []
    conf = {"bootstrap.servers": bootstrap, **properties.librdkafka, "error_cb": errors.append, "logger": _silent}
    producer = Producer(conf)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        producer.poll(0.2)  # serves error_cb
        for error in errors:
            if error.code() in REFUSED_LOGIN:
                raise KafkaLoginRefused(
                    f"Kafka at {bootstrap} refused the login ({_reason(error)}): check the credentials in "
                    f"{properties.source}"
                )
            if error.code() in FAILED_TLS:
                raise KafkaLoginRefused(
                    f"the TLS handshake with Kafka at {bootstrap} failed ({_reason(error)}): check the ssl.* "
                    f"properties in {properties.source}"
                )
        try:
            producer.list_topics(timeout=0.5)
            return True
        except KafkaException:
            continue
    return False


def _reason(error: KafkaError) -> str:
    """librdkafka's text without the broker address it starts with."""
    text = error.str()
    return text.split(": ", 1)[1] if text.count(": ") and "://" in text.split(": ", 1)[0] else text
