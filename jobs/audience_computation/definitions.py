"""The audiences one bucket of audience-computation applies: its tenants' definitions as of where the
bucket is in its own order, and what each set of definitions implies for a user's state.

Definitions reach every bucket as marked copies of the records of `hw.audiences.config` (Java:
UserBuckets.Everywhere), so a change applies at one place in each bucket's order and the bucket looks
at every user it holds right there. (PyFlink's broadcast side cannot reach keyed state: it has no
`apply_to_keyed_state`.)

A fresh job starts from the definitions that were on the topic when it was submitted (`snapshot`),
so the users it meets first are judged by them, not by whichever definitions the config source
happens to have read. Until a bucket sees, on the stream, the record the snapshot holds for a key, the
older records of that key it reads are skipped: they are history the snapshot already went past.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from common.contracts.audiences import Audience, AudienceError, audience_from_record
from jobs.audience_computation.conditions import attributes_read, kept_events


@dataclass(frozen=True)
class TenantAudiences:
    """One tenant's audiences, with what evaluating them needs, computed once per change."""

    audiences: dict[str, Audience]  # audience id -> definition
    windowed: tuple[str, ...]  # ids whose answer can change with the passing of event time alone
    counting: dict[str, tuple[str, ...]]  # event name -> ids that count it
    reading: dict[str, tuple[str, ...]]  # attribute -> ids that look at it
    kept: dict[str, tuple[int, int]]  # event name -> (days, newest times) a user's state keeps

    @staticmethod
    def of(audiences: dict[str, Audience]) -> TenantAudiences:
        counting: dict[str, list[str]] = {}
        reading: dict[str, list[str]] = {}
        kept: dict[str, tuple[int, int]] = {}
        for audience_id in sorted(audiences):
            condition = audiences[audience_id].condition
            for name, (days, count) in kept_events(condition).items():
                counting.setdefault(name, []).append(audience_id)
                old_days, old_count = kept.get(name, (0, 0))
                kept[name] = (max(days, old_days), max(count, old_count))
            for attribute in attributes_read(condition):
                reading.setdefault(attribute, []).append(audience_id)
        windowed = tuple(sorted({a for ids in counting.values() for a in ids}))
        return TenantAudiences(
            audiences=dict(sorted(audiences.items())),
            windowed=windowed,
            counting={k: tuple(v) for k, v in counting.items()},
            reading={k: tuple(v) for k, v in reading.items()},
            kept=kept,
        )


NONE = TenantAudiences.of({})


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


def config_key(record: dict) -> str:
    return f"{record['tenant']}:{record['audience_id']}"


@dataclass
class BucketDefinitions:
    """What one bucket's keyed state holds of the definitions (pickled: tests/unit/test_state_layouts.py).

    `conditions`: tenant -> audience id -> condition JSON; `pending`: key -> digest of the record the
    submit-time snapshot held for it, until the bucket reads that record on the stream."""

    conditions: dict[str, dict[str, str]]
    pending: dict[str, str]

    def pack(self) -> tuple:
        return (self.conditions, self.pending)

    @staticmethod
    def unpack(packed: tuple | None) -> BucketDefinitions | None:
        return None if packed is None else BucketDefinitions(*packed)

    @staticmethod
    def from_snapshot(records: list[tuple[dict, str]]) -> BucketDefinitions:
        """The definitions of a fresh bucket: the snapshot's latest record per key, (record, digest)."""
        definitions = BucketDefinitions({}, {})
        for record, value_digest in records:
            definitions.apply(record)
            definitions.pending[config_key(record)] = value_digest
        return definitions

    def apply(self, record: dict) -> None:
        """Take a definition record (valid or deleted) as the key's latest."""
        tenant = self.conditions.setdefault(record["tenant"], {})
        if record.get("deleted"):
            tenant.pop(record["audience_id"], None)
        else:
            tenant[record["audience_id"]] = record["condition_json"]

    def on_record(self, record: dict, value_digest: str) -> bool:
        """A definition record read on the stream; True if it changes what the bucket applies."""
        key = config_key(record)
        awaited = self.pending.get(key)
        if awaited is not None:
            if awaited == value_digest:
                del self.pending[key]
            return False  # the snapshot's record, or one older than it
        before = self.conditions.get(record["tenant"], {}).get(record["audience_id"])
        self.apply(record)
        return self.conditions.get(record["tenant"], {}).get(record["audience_id"]) != before


def parse_tenant(tenant: str, conditions: dict[str, str]) -> tuple[TenantAudiences, dict[str, str]]:
    """The audiences of a tenant, and the ids refused with why (a definition the CLI would refuse that
    reached the topic some other way: it counts as deleted, and the operator reports it)."""
    audiences, refused = {}, {}
    for audience_id, condition_json in conditions.items():
        try:
            audiences[audience_id] = audience_from_record(
                {"tenant": tenant, "audience_id": audience_id, "condition_json": condition_json}
            )
        except AudienceError as exc:
            refused[audience_id] = str(exc)
    return TenantAudiences.of(audiences), refused
