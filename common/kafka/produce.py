"""Producing with backpressure: one place that waits when the client's local queue is full."""

from __future__ import annotations

from confluent_kafka import Producer


def send(producer: Producer, topic: str, value: bytes, **kwargs) -> None:
    """`producer.produce`, waiting for deliveries (not failing) while the local queue is full."""
    while True:
        try:
            producer.produce(topic, value, **kwargs)
            break
        except BufferError:
            producer.poll(0.1)
    producer.poll(0)
