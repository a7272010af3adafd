"""Feeding and reading action-streaming by identifier levels in tests and benchmarks: unified actions
produced as api-unification will route them (common/contracts/routing.py), and the documents its
deltas make, as MongoDB applies them."""

from __future__ import annotations

import time

from common.contracts.actions import Action
from common.contracts.routing import routed_records
from common.kafka.produce import send
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.kafka import Collector
from harness.models.identity_network import documents, reference


def produce_routed(settings, actions: list[Action]) -> int:
    """Every routed record of `actions` to `hw.unified.actions`, keyed by routing key; how many."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True, "linger.ms": 5})
    codec, source, n = AvroCodec(), topic(settings.topic_prefix, "unified.actions"), 0
    for action in actions:
        for key, value in routed_records(codec, action, action.time_ms):
            send(producer, source, value, key=key, timestamp=action.time_ms)
            n += 1
    if producer.flush(60) != 0:
        raise RuntimeError("records still unsent after 60 s")
    return n


def live_documents(codec: AvroCodec, values: list[bytes]) -> dict:
    """The live documents (tombstones left out) that these delta values make, without timing fields."""
    return documents([codec.decode(v) for v in values])


def wanted(actions: list[Action], caps: dict[str, int]) -> tuple[dict, dict]:
    """The reference model's live documents and live profiles (user key -> identifier -> first seen)."""
    return reference(actions, caps).live()


def without_versions(docs: dict) -> dict:
    return {key: {k: v for k, v in doc.items() if k != "version"} for key, doc in docs.items()}


def wait_for_documents(
    job, deltas: Collector, base: list[bytes], want: dict, timeout: float = 300, versions: bool = True
) -> None:
    """Poll `deltas` until `base` + what it read since the call folds to `want`; else raise, naming
    the first document that differs. Without `versions`, a document's version is left out: it counts
    contributions in the order `hw.unified.actions` holds them, which the reference model knows only
    when it was fed that order."""
    codec, deadline, got = AvroCodec(), time.monotonic() + timeout, {}
    start = len(deltas.values)
    if not versions:
        want = without_versions(want)
    while time.monotonic() < deadline and job.alive():
        deltas.poll_for(3)
        got = live_documents(codec, base + deltas.values[start:])
        if not versions:
            got = without_versions(got)
        if got == want:
            return
    if not job.alive():
        raise AssertionError(f"the job ended; see {job.log}")
    differ = [k for k in want if got.get(k) != want[k]]
    extra = [k for k in got if k not in want]
    first = differ[0] if differ else None
    raise AssertionError(
        f"{len(differ)} of {len(want)} documents differ or are missing, {len(extra)} extra; first {first}: "
        f"want {want.get(first)} got {got.get(first)}; see {job.log}"
    )
