"""`headwater rejected list|show|redrive`: `hw.rejected` is where a fix starts, not a dead end.

- `list` prints the rejections that match (job, reason, tenant, time range), one line each, with the
  position (`partition:offset`) that names it.
- `show P:O` prints one rejection whole: its detail, path, parts, the refused part and the original.
- `redrive` sends the originals of the matching rejections again, to the topic the refusing job reads,
  after a fix (a tenant registered, a reader deployed for a new schema, a document unparked). Exactly
  once: in one Kafka transaction with a marker per rejection on the compacted `hw.rejected.redrives`,
  so a rejection already redriven is skipped, and two redrives at once fence each other. Then it
  reports what happened to each: for api-unification, the action that came out or the new refusal.

A message's original is kept once, in its first rejection (jobs/api_unification/rejection_budget.py):
redriving that one re-sends the whole message, and its other rejections are reported as covered by it.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass

from common.config import Settings
from common.errors import HeadwaterError
from common.flink.kafka import client_name
from common.kafka.clients import client_config
from common.log import get_logger
from common.serde.avro import AvroCodec, SerdeError
from common.topics import TOPICS, topic

log = get_logger(__name__)


class RejectedError(HeadwaterError):
    """A `headwater rejected` request that cannot be answered as asked."""


@dataclass(frozen=True)
class Stored:
    """One record of `hw.rejected`, where it is, and what it says."""

    partition: int
    offset: int
    refused_ms: int  # the Kafka timestamp: when the job wrote the rejection
    record: dict

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"


@dataclass(frozen=True)
class Filters:
    job: str | None = None
    reason: str | None = None
    tenant: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None

    def match(self, stored: Stored) -> bool:
        r = stored.record
        return (
            (self.job is None or r["job"] == self.job)
            and (self.reason is None or r["reason"] == self.reason)
            and (self.tenant is None or r["tenant"] == self.tenant)
            and (self.since_ms is None or stored.refused_ms >= self.since_ms)
            and (self.until_ms is None or stored.refused_ms < self.until_ms)
        )


def read_rejected(settings: Settings, filters: Filters = Filters()) -> list[Stored]:
    """Every rejection on the topic now that matches, oldest first per partition."""
    from common.kafka.snapshot import messages_to_end

    codec, found = AvroCodec(), []
    for msg in messages_to_end(settings, [topic(settings.topic_prefix, "rejected")], timeout_s=120):
        try:
            record = codec.decode(msg.value(), "rejected")
        except SerdeError as exc:  # a record of a newer writer than this CLI: say so, go on
            log.warning(f"rejected {msg.partition()}:{msg.offset()}: cannot be read by this version ({exc})")
            continue
        if isinstance(record["part"], str):  # a v1 record read as v2: Avro gives the default as text
            record["part"] = record["part"].encode()
        stored = Stored(msg.partition(), msg.offset(), msg.timestamp()[1], record)
        if filters.match(stored):
            found.append(stored)
    return found


def list_rejected(settings: Settings, filters: Filters, limit: int) -> int:
    found = read_rejected(settings, filters)
    for s in found[:limit]:
        r = s.record
        parts = f" ({r['parts']} parts)" if r["parts"] > 1 else ""
        log.info(
            f"{s.position:<9} {_iso(s.refused_ms)}  {r['job']:<18} {r['tenant'] or '-':<10} {r['reason']:<22} "
            f"{r['message_id'] or '-'}  {r['path'] or '(whole message)'}{parts}: {r['detail'][:160]}"
        )
    more = f" (first {limit} shown; --max for more)" if len(found) > limit else ""
    log.info(f"{len(found)} rejections match{more}")
    return len(found)


def show(settings: Settings, position: str) -> dict:
    partition, offset = _position(position)
    for s in read_rejected(settings):
        if (s.partition, s.offset) == (partition, offset):
            r = s.record
            shown = {**r, "original": _text(r["original"]), "part": _text(r["part"]), "refused_at": _iso(s.refused_ms)}
            log.info(json.dumps(shown, ensure_ascii=False, indent=2))
            return r
    raise RejectedError(f"no rejection at {position} of {topic(settings.topic_prefix, 'rejected')}")


def target_topic(settings: Settings, record: dict) -> str | None:
    """The topic the refusing job reads the record's original from: `ingest.<source>` for api-unification's
    sources, else the topic the source names."""
    suffixes = {t.suffix for t in TOPICS}
    for suffix in (f"ingest.{record['source']}", record["source"]):
        if suffix in suffixes:
            return topic(settings.topic_prefix, suffix)
    return None


@dataclass
class Redrive:
    stored: Stored
    outcome: str
    sent_to: str | None = None


def plan_redrives(settings: Settings, found: list[Stored], done: dict[str, dict]) -> list[Redrive]:
    """What to do with each matching rejection: send its original, or why not."""
    plans, holders = [], {}
    for s in found:  # a message's original is in the rejection that does not omit it
        r = s.record
        if not r["original_omitted"]:
            holders[(r["job"], r["source"], r["message_id"], r["arrival_ms"])] = s
    for s in found:
        r = s.record
        if s.position in done:
            earlier = done[s.position]
            plans.append(Redrive(s, f"skipped: already redriven to {earlier['to']} at {_iso(earlier['at'])}"))
        elif r["original_omitted"]:
            holder = holders.get((r["job"], r["source"], r["message_id"], r["arrival_ms"]))
            where = f"rejection {holder.position}" if holder else "the message's first rejection (not among these)"
            plans.append(Redrive(s, f"covered: its message's original is sent with {where}"))
        elif (to := target_topic(settings, r)) is None:
            plans.append(Redrive(s, f"skipped: no topic to send source {r['source']!r} to"))
        else:
            plans.append(Redrive(s, "to send", to))
    return plans


def redrive(settings: Settings, filters: Filters, *, dry_run: bool, wait_s: float) -> list[Redrive]:
    found = read_rejected(settings, filters)
    plans = plan_redrives(settings, found, _redriven(settings))
    sending = [p for p in plans if p.sent_to]
    if sending and not dry_run:
        before = _ends(settings, ["unified.actions", "rejected"])
        _send(settings, sending)
        if wait_s > 0:
            _follow(settings, sending, before, wait_s)
    counts = defaultdict(int)
    for p in plans:
        if dry_run and p.sent_to:
            p.outcome = f"would send to {p.sent_to}"
        r = p.stored.record
        log.info(f"{p.stored.position:<9} {r['reason']:<22} {r['message_id'] or '-'}: {p.outcome}")
        counts[p.outcome.split(":")[0].split(" to ")[0]] += 1
    summary = ", ".join(f"{what} {n}" for what, n in counts.items())
    log.info(f"{len(found)} rejections match: {summary}" if found else "no rejection matches")
    return plans


def _send(settings: Settings, sending: list[Redrive]) -> None:
    """The originals and their markers in one transaction: all are sent, or none."""
    from confluent_kafka import KafkaException, Producer

    from common.kafka.produce import send

    producer = Producer(
        client_config(
            settings,
            {
                "transactional.id": client_name(settings, "rejected-redrive"),
                "enable.idempotence": True,
                "message.max.bytes": 2_000_000,
            },
        )
    )
    markers = topic(settings.topic_prefix, "rejected.redrives")
    now_ms = int(time.time() * 1000)
    try:
        producer.init_transactions(30)
        producer.begin_transaction()
        for p in sending:
            send(producer, p.sent_to, p.stored.record["original"])
            marker = {"at": now_ms, "to": p.sent_to, "message_id": p.stored.record["message_id"]}
            send(producer, markers, json.dumps(marker).encode(), key=p.stored.position.encode())
        producer.commit_transaction(60)
    except KafkaException as exc:
        raise RejectedError(f"the redrive was not committed, nothing was sent ({exc}); run it again") from None
    for p in sending:
        p.outcome = f"sent to {p.sent_to}"


def _follow(settings: Settings, sending: list[Redrive], before: dict, wait_s: float) -> None:
    """For api-unification's redrives: the action that came out, or the new refusal, within `wait_s`."""
    from confluent_kafka import Consumer, TopicPartition

    waiting = {
        (p.stored.record["source"], p.stored.record["message_id"]): p
        for p in sending
        if p.stored.record["job"] == "api-unification"
    }
    if not waiting:
        return
    codec = AvroCodec()
    consumer = Consumer(
        client_config(
            settings,
            {
                "group.id": "headwater-redrive-follow",  # assigned, never committed
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            },
        )
    )
    consumer.assign([TopicPartition(t, p, o) for (t, p), o in before.items()])
    deadline = time.monotonic() + wait_s
    try:
        while waiting and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            try:
                record = codec.decode(msg.value())
            except SerdeError:
                continue
            p = waiting.pop((record.get("source"), record.get("message_id")), None)
            if p is None:
                continue
            if msg.topic().endswith("unified.actions"):
                p.outcome = f"accepted: an action on {msg.topic()}"
            else:
                p.outcome = f"refused again: {record['reason']} {record['path'] or ''} {record['detail'][:120]}"
    finally:
        consumer.close()
    for p in waiting.values():
        p.outcome = f"sent to {p.sent_to}; no outcome within {wait_s:g} s (is api-unification running?)"


def _ends(settings: Settings, suffixes: list[str]) -> dict:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(client_config(settings, {"group.id": "headwater-redrive-follow"}))
    ends = {}
    try:
        for suffix in suffixes:
            name = topic(settings.topic_prefix, suffix)
            for partition in consumer.list_topics(name, timeout=10).topics[name].partitions:
                ends[(name, partition)] = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=10)[1]
    finally:
        consumer.close()
    return ends


def _redriven(settings: Settings) -> dict[str, dict]:
    from common.kafka.snapshot import read_to_end

    done = {}
    for _, key, value in read_to_end(settings, [topic(settings.topic_prefix, "rejected.redrives")]):
        if key is not None and value is not None:
            done[key.decode()] = json.loads(value)
    return done


def _position(text: str) -> tuple[int, int]:
    partition, _, offset = text.partition(":")
    if not (partition.isdigit() and offset.isdigit()):
        raise RejectedError(f"{text!r} is not a position: give PARTITION:OFFSET as `headwater rejected list` prints it")
    return int(partition), int(offset)


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return "hex:" + value.hex()
