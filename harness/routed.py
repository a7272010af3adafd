"""Feeding and reading action-streaming by identifier levels in tests and benchmarks: unified actions
produced as api-unification will route them (common/contracts/routing.py), and the documents its
deltas make, as MongoDB applies them."""

from __future__ import annotations

import time
from collections import Counter

from common.contracts.actions import Action
from common.contracts.routing import LINK, routed_records
from common.kafka.produce import send
from common.serde.avro import AvroCodec
from common.topics import topic
from harness.kafka import Collector
from harness.models.identity_network import reference, without_timing
from harness.models.mongo import Folding


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


def home_records(codec: AvroCodec, values) -> list[dict]:
    """The unified messages among routed records, in the order given: each one's home record (a link
    is not a message). A message written twice is here twice."""
    return [r for r in map(codec.decode, values) if r["kind"] != LINK]


def messages_in(codec: AvroCodec, values: list[bytes]) -> dict[str, dict]:
    """The unified messages among routed records: message id -> its home record (links left out)."""
    return {r["message_id"]: r for r in home_records(codec, values)}


def wait_for_messages(collector: Collector, count: int, timeout: float, alive=lambda: True) -> dict[str, dict]:
    """Poll `collector` (on hw.unified.actions) until it read `count` messages' home records, or
    `timeout` s passed, or `alive()` is false; the messages read."""
    codec, deadline, found, seen = AvroCodec(), time.monotonic() + timeout, {}, 0
    while True:
        found.update(messages_in(codec, collector.values[seen:]))
        seen = len(collector.values)
        if len(found) >= count or time.monotonic() > deadline or not alive():
            return found
        collector.poll_for(0.5)


class LiveFolding:
    """Delta values folded as they are read (each decoded and applied once: the jobs under test share
    these cores with the test, and re-reading a topic of 40k deltas on every poll took 1.5 s of CPU)."""

    def __init__(self, codec: AvroCodec):
        self.codec, self.folding = codec, Folding()

    def add(self, values) -> None:
        self.folding.apply(map(self.codec.decode, values))

    def live(self) -> dict:
        """The live documents (tombstones left out), without timing fields."""
        return without_timing(self.folding.documents())


def caps_for(actions: list[Action]) -> dict[str, int]:
    """Each tenant's identifier cap (tenant registry), for the tenants of `actions`."""
    from common.contracts.tenants import load_registry

    registry = load_registry()
    return {t: registry.get(t).limits.max_identifiers_per_user for t in {a.tenant for a in actions}}


def wanted(actions: list[Action], caps: dict[str, int] | None = None) -> tuple[dict, dict]:
    """The reference model's live documents and live profiles (user key -> identifier -> first seen)."""
    return reference(actions, caps_for(actions) if caps is None else caps).live()


def enriched_ids(codec: AvroCodec, values: list[bytes]) -> Counter:
    """(message id, event index) of each enriched event: what a run enriched, and how often."""
    return Counter((r["message_id"], r["index"]) for r in map(codec.decode, values))


def without_versions(docs: dict) -> dict:
    return {key: {k: v for k, v in doc.items() if k != "version"} for key, doc in docs.items()}


def wait_for_documents(
    job, deltas: Collector, base: list[bytes], want: dict, timeout: float = 300, versions: bool = True
) -> None:
    """Poll `deltas` until `base` + what it read since the call folds to `want`; else raise, naming
    the first document that differs. Without `versions`, a document's version is left out: it counts
    contributions in the order `hw.unified.actions` holds them, which the reference model knows only
    when it was fed that order. `job` (None: not watched) must stay alive meanwhile."""
    codec, deadline, got = AvroCodec(), time.monotonic() + timeout, {}
    read, folding = len(deltas.values), LiveFolding(codec)
    folding.add(base)
    if not versions:
        want = without_versions(want)
    while time.monotonic() < deadline and (job is None or job.alive()):
        deltas.poll_for(3)
        folding.add(deltas.values[read:])
        read = len(deltas.values)
        got = folding.live()
        if not versions:
            got = without_versions(got)
        if got == want:
            return
    if job is not None and not job.alive():
        raise AssertionError(f"the job ended; see {job.log}")
    differ = [k for k in want if got.get(k) != want[k]]
    extra = [k for k in got if k not in want]
    first = differ[0] if differ else None
    raise AssertionError(
        f"{len(differ)} of {len(want)} documents differ or are missing, {len(extra)} extra; first {first}: "
        f"want {want.get(first)} got {got.get(first)}" + (f"; see {job.log}" if job is not None else "")
    )
