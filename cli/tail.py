"""`headwater tail TOPIC`: print committed records of a topic, decoding Avro single-object values."""

from __future__ import annotations

import json
import time
import uuid

from confluent_kafka import Consumer, KafkaError

from common.config import Settings
from common.kafka.clients import client_config
from common.serde.avro import AvroCodec, SerdeError


def read_committed(settings: Settings, topic_name: str, *, max_records: int, idle_timeout: float):
    """Yield (key, value) of committed records from the start of the topic, until `max_records` or
    `idle_timeout` seconds pass without a record."""
    consumer = Consumer(
        client_config(
            settings,
            {
                "group.id": f"headwater-tail-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            },
        )
    )
    consumer.subscribe([topic_name])
    try:
        count, last = 0, time.monotonic()
        while count < max_records and time.monotonic() - last < idle_timeout:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError(f"reading {topic_name}: {msg.error()}")
            count, last = count + 1, time.monotonic()
            yield msg.key(), msg.value()
    finally:
        consumer.close()


def _jsonable(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def render(value: bytes | None, codec: AvroCodec) -> str:
    if value is None:
        return "(tombstone: the key is deleted)"
    try:
        writer = codec.writer_of(value)
        return f"[{writer.name} v{writer.version}] " + json.dumps(
            codec.decode(value), ensure_ascii=False, default=_jsonable
        )
    except SerdeError:
        return value.decode("utf-8", errors="replace")
