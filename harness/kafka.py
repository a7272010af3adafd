"""Small Kafka clients for tests, demo and benchmarks: a producer and a read_committed collector."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaError, Producer

from common.kafka.produce import send


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for v in values:
        send(p, topic, v)
    assert p.flush(60) == 0, "not all test records were acknowledged"


class Collector:
    """Reads a topic from the beginning with read_committed and keeps every key and value it has seen."""

    def __init__(self, bootstrap: str, topic: str, isolation: str = "read_committed"):
        self.keys: list[bytes | None] = []
        self.values: list[bytes] = []
        self.arrivals: list[float] = []  # wall-clock time each value was read, for latency figures
        self.next_offsets: dict[int, int] = {}  # partition -> offset after the last record read
        self.topic = topic
        self.consumer_bootstrap = bootstrap
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"it-collector-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": isolation,
            }
        )
        self.consumer.subscribe([topic])

    def poll_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for msg in self.consumer.consume(1000, timeout=0.2):
                if msg.error():
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(msg.error())
                    continue
                self.next_offsets[msg.partition()] = msg.offset() + 1
                self.keys.append(msg.key())
                self.values.append(msg.value())
                self.arrivals.append(time.time())

    def catch_up(self, idle: float = 2.0, timeout: float = 60.0) -> int:
        """Read what the topic already holds: poll until nothing arrives for `idle` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = len(self.values)
            self.poll_for(idle)
            if len(self.values) == before:
                break
        return len(self.values)

    def wait_for(self, count: int, timeout: float, alive=lambda: True) -> bool:
        """Poll until `count` values were read; False after `timeout` s or as soon as `alive()` is false."""
        deadline = time.monotonic() + timeout
        while len(self.values) < count and time.monotonic() < deadline and alive():
            self.poll_for(0.5)
        return len(self.values) >= count

    def consumed_by(self, group: str) -> bool:
        """Whether consumer group `group` (a Flink job's source, which commits its offsets when a
        checkpoint completes) has committed past every record this collector has read."""
        from confluent_kafka import TopicPartition

        wanted = [TopicPartition(self.topic, partition) for partition in self.next_offsets]
        committed = self._group_consumer(group).committed(wanted, timeout=10)
        return all(tp.offset >= self.next_offsets[tp.partition] for tp in committed)

    def _group_consumer(self, group: str) -> Consumer:
        if getattr(self, "_groups", None) is None:
            self._groups = {}
        if group not in self._groups:
            self._groups[group] = Consumer(
                {"bootstrap.servers": self.consumer_bootstrap, "group.id": group, "enable.auto.commit": False}
            )
        return self._groups[group]

    def close(self) -> None:
        for consumer in (getattr(self, "_groups", None) or {}).values():
            consumer.close()
        self.consumer.close()
