"""What action-streaming must write for a sequence of unified actions, by its pure rules.

`process_action` over in-memory tenant state, then the job's own encoders: per output topic and key,
the exact value bytes in order. Tests compare the topics with this after savepoints, replays and
rescales; the MongoDB documents follow by folding the expected deltas (mongo_model.fold).
"""

from __future__ import annotations

from collections import defaultdict

from common.contracts.actions import Action
from common.contracts.tenants import load_registry
from common.serde.avro import AvroCodec
from jobs.action_streaming.process import MemoryTenantState, process_action
from jobs.action_streaming.records import encode_delta, encode_event, encode_profile


def expected_outputs(parts: list[list[Action]]) -> list[dict[tuple[str, bytes], list[bytes]]]:
    """Per part (the state carries over from one part to the next): (topic suffix, key) -> values."""
    codec, registry = AvroCodec(), load_registry()
    states: dict[str, MemoryTenantState] = defaultdict(MemoryTenantState)
    out = []
    for part in parts:
        records = defaultdict(list)
        for a in part:
            got = process_action(states[a.tenant], a, registry.get(a.tenant).limits.max_identifiers_per_user)
            for key, value in [encode_delta(codec, a.tenant, a.message_id, d) for d in got.deltas]:
                records[("state.deltas", key)].append(value)
            for user_id, index, event, snapshot in got.events:
                key, value = encode_event(codec, a.tenant, user_id, a.message_id, index, event, snapshot)
                records[("events.enriched", key)].append(value)
            for identity, merged_into, deleted in got.profiles:
                for key, value in encode_profile(codec, a.tenant, identity, merged_into, deleted):
                    records[("identity.profiles", key)].append(value)
        out.append(dict(records))
    return out


def count(records: dict[tuple[str, bytes], list[bytes]], suffix: str) -> int:
    return sum(len(values) for (s, _), values in records.items() if s == suffix)
