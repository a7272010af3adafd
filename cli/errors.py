"""Turn the failures a user can fix into one line; anything else is a bug and keeps its traceback."""

from __future__ import annotations

from confluent_kafka import KafkaException

from common.errors import HeadwaterError


def explain(exc: BaseException) -> str | None:
    if isinstance(exc, HeadwaterError):
        return str(exc)
    if isinstance(exc, KafkaException):
        return f"Kafka: {exc.args[0] if exc.args else exc}; is the stack up (`headwater status`)?"
    return None
