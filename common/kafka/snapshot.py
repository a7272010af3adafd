"""Read topics from their start to their current end: the latest state of compacted config topics.

Used where the whole current config is needed at once (`headwater destinations list`, and
profile-dedupe's start, which waits until its broadcast state holds this config).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from common.config import Settings
from common.errors import HeadwaterError
from common.kafka.clients import client_config


class SnapshotError(HeadwaterError, RuntimeError):
    pass


def read_to_end(
    settings: Settings, topics: list[str], timeout_s: float = 30.0
) -> Iterator[tuple[str, bytes | None, bytes | None]]:
    """Yield (topic, key, value) of every committed record present when called, oldest first per partition."""
    for msg in messages_to_end(settings, topics, timeout_s):
        yield msg.topic(), msg.key(), msg.value()


def messages_to_end(
    settings: Settings, topics: list[str], timeout_s: float = 30.0, since_ms: int | None = None
) -> Iterator:
    """Every committed record present when called, as confluent-kafka Messages (topic, partition, offset,
    timestamp, key, value), oldest first per partition. With `since_ms`, from the first record whose
    Kafka timestamp is at or after it."""
    consumer = Consumer(
        client_config(
            settings,
            {
                "group.id": f"headwater-snapshot-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
            },
        )
    )
    deadline = time.monotonic() + timeout_s
    try:
        partitions = []
        for name in topics:
            metadata = consumer.list_topics(name, timeout=timeout_s).topics.get(name)
            if metadata is None or metadata.error is not None:
                raise SnapshotError(
                    f"topic {name} is not readable: {metadata.error if metadata else 'missing'}"
                    " (run `headwater up`, which creates the topics)"
                )
            partitions += [TopicPartition(name, p) for p in metadata.partitions]
        remaining = set()
        starts = []
        firsts = {}
        if since_ms is not None and partitions:
            wanted = [TopicPartition(tp.topic, tp.partition, since_ms) for tp in partitions]
            found = consumer.offsets_for_times(wanted, timeout=max(1.0, deadline - time.monotonic()))
            firsts = {(tp.topic, tp.partition): tp.offset for tp in found}
        for tp in partitions:
            low, high = _watermarks(consumer, tp, deadline)
            first = firsts.get((tp.topic, tp.partition), low) if since_ms is not None else low
            if first < 0:  # no record at or after since_ms
                continue
            if high > max(low, first):
                remaining.add((tp.topic, tp.partition))
                starts.append(TopicPartition(tp.topic, tp.partition, max(low, first)))
        if not remaining:
            return
        consumer.assign(starts)
        while remaining:
            if time.monotonic() > deadline:
                raise SnapshotError(f"reading {', '.join(topics)} to the end took over {timeout_s:.0f} s")
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    remaining.discard((msg.topic(), msg.partition()))
                    continue
                raise SnapshotError(f"reading {msg.topic()}: {msg.error()}")
            yield msg
    finally:
        consumer.close()


# A partition whose leader is moving or not loaded yet (a broker just started, a topic just created).
_RETRIABLE = (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART)


def _watermarks(consumer, tp, deadline: float) -> tuple[int, int]:
    """The partition's low and high offsets, asking again while the broker says its leader is not ready."""
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=max(1.0, deadline - time.monotonic()))
        except KafkaException as exc:
            if exc.args[0].code() not in _RETRIABLE or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
