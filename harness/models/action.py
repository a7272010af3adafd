"""What action-streaming must write for a sequence of unified actions, by its pure rules.

`process_action` over in-memory tenant state, then the job's own encoders: per output topic and key,
the exact value bytes in order. Tests compare the topics with this after savepoints, replays and
rescales; the MongoDB documents follow by folding the expected deltas (mongo_model.fold).
"""

from __future__ import annotations

import random
from collections import defaultdict

from common.contracts.actions import Action, AttributeOp, Device, Event, Identifiers
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


BASE_MS = 1_795_000_000_000
NAMES = ("app_opened", "product_viewed", "added_to_cart", "purchased")


def mixed_action(rng: random.Random, seq: int, tenants: tuple[str, ...], users: int) -> Action:
    """One action of a merge-heavy mix: anonymous visitors, logins that merge users, devices moving
    between users, emails alone, deletes; events a little late, a plan attribute half the time."""
    tenant, u, t = rng.choice(tenants), rng.randrange(users), BASE_MS + seq * 1_000
    roll = rng.random()
    if roll < 0.02:
        return Action(tenant, "api", f"m{seq}", "delete_user", t, Identifiers(customer_id=f"c{u}"))
    if roll < 0.40:  # an anonymous visitor on its device
        ids = Identifiers(anonymous_ids=[f"anon-{u}"], device_id=f"d{u}")
    elif roll < 0.70:  # logs in: links the anonymous id to the customer (a merge when both exist)
        ids = Identifiers(customer_id=f"c{u}", anonymous_ids=[f"anon-{u}"])
    elif roll < 0.85:  # on somebody's device: the device moves
        ids = Identifiers(customer_id=f"c{u}", emails=[f"u{u}@example.com"], device_id=f"d{rng.randrange(users)}")
    else:
        ids = Identifiers(emails=[f"u{u}@example.com"])
    events = [
        Event(rng.choice(NAMES), t - rng.randint(0, 90_000), {"n": rng.randint(1, 9)}) for _ in range(rng.randint(0, 4))
    ]
    device = Device(ids.device_id, rng.choice(["ios", "android"]), f"1.{rng.randint(0, 3)}") if ids.device_id else None
    attributes = [AttributeOp("set", "plan", rng.choice(["free", "pro"]))] if rng.random() < 0.5 else []
    return Action(
        tenant, "sdk", f"m{seq}", "batch", max([e.time_ms for e in events], default=t), ids, device, events, attributes
    )
