"""action-streaming below the tenant, run in plain Python: the reference model, and a simulator that
runs the same rules (jobs/action_streaming/levels.py) the way Flink would at any parallelism.

Records of `hw.unified.actions` sit in partitions by routing key (common/contracts/routing.py). Each
level's stage has `parallelism` subtasks, a key belongs to one of them, and every pair (sender,
receiving subtask) is a FIFO channel, as in Flink: a partition's records reach their keys in order,
a stage's forwards reach the next stage in the order they were sent, and everything else is timing.
`Network.run` delivers from a channel picked at random at each step, so any schedule Flink could take
may come out; `reference` delivers in input order with every forward at once. The documents must not
depend on which (tests/unit/action_streaming/test_identity_network.py).
"""

from __future__ import annotations

import random
import zlib
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field

from common.contracts.actions import Action, AttributeOp, Device, Event, Identifiers
from common.contracts.deltas import delta_record
from common.contracts.routing import level, routed, seal
from harness.models import mongo
from jobs.action_streaming.levels import Effects, KeyState, Rules, on_forwarded, on_routed

# Fields a document may hold that name the message whose change was written last: timing, once
# merges cross keys (docs/operations.md).
TIMING_FIELDS = ("last_message_id",)


def documents(deltas: list[dict], *, tombstones: bool = False) -> dict[tuple[str, str], dict]:
    """The MongoDB documents decoded `deltas` make (live ones, or with `tombstones` all of them),
    without timing fields."""
    return without_timing(mongo.fold(deltas, tombstones=tombstones))


def without_timing(docs: dict) -> dict:
    return {key: {k: v for k, v in doc.items() if k not in TIMING_FIELDS} for key, doc in docs.items()}


def _slot(key: str, buckets: int) -> int:
    return zlib.crc32(key.encode()) % buckets


@dataclass
class Outputs:
    deltas: list[dict] = field(default_factory=list)
    events: list[tuple[str, str, int]] = field(default_factory=list)  # (message id, user id, index)
    profiles: dict[str, tuple] = field(default_factory=dict)  # user id -> last record (compacted topic)
    counts: Counter = field(default_factory=Counter)

    def take(self, tenant: str, effects: Effects) -> None:
        for message_id, delta in effects.deltas:
            self.deltas.append(delta_record(tenant, message_id, delta))
        self.events += [(message_id, uid, index) for message_id, uid, index, _e, _s in effects.events]
        for uid, ids, merged_into, deleted in effects.profiles:
            self.profiles[f"{tenant}:{uid}"] = (ids, merged_into, deleted)
        self.counts.update(effects.counts)

    def documents(self) -> dict[tuple[str, str], dict]:
        """The MongoDB documents the deltas make (tombstones included), without timing fields."""
        return documents(self.deltas, tombstones=True)

    def live(self) -> tuple[dict, dict]:
        """The live documents (no tombstones, no timing fields), and the live identity profiles (user
        key -> identifier -> first seen; neither merged nor deleted): what must not depend on timing."""
        profiles = {key: ids for key, (ids, merged, deleted) in self.profiles.items() if not merged and not deleted}
        return documents(self.deltas), profiles


class Network:
    """The stages of every level, `parallelism` subtasks each, fed from `partitions` partitions."""

    def __init__(self, caps: dict[str, int], parallelism: int = 1, partitions: int = 4, seed: int | None = None):
        self.caps, self.parallelism, self.partitions = caps, parallelism, partitions
        self.rng = random.Random(seed) if seed is not None else None
        self.states: dict[tuple[str, str], KeyState] = defaultdict(KeyState)
        self.channels: dict[tuple, deque] = defaultdict(deque)
        self.out = Outputs()

    def _subtask(self, key: str) -> tuple[int, int]:
        return level(key), _slot(key, self.parallelism)

    def _apply(self, tenant: str, key: str, kind: str, item) -> None:
        """`key`: raw for a routed record ("kind:value"), sealed for a forward, as the job has them."""
        effects = Effects()
        rules = Rules(tenant, self.caps.get(tenant, 50))
        sealed = seal(tenant, key) if kind == "routed" else key
        state = self.states[(tenant, sealed)]
        if kind == "routed":
            on_routed(rules, key, state, item, effects)
        else:
            on_forwarded(rules, key, state, item, effects)
        self.out.take(tenant, effects)
        sender = self._subtask(sealed)
        # Forgets go back down through a Kafka topic (hw.identity.forget): a channel of their own
        for channel, (target, forwarded) in [
            *(((sender, self._subtask(t)), (t, f)) for t, f in effects.forwards),
            *(((sender, "forget", self._subtask(t)), (t, f)) for t, f in effects.forgets),
        ]:
            if self.rng is None:
                self._apply(tenant, target, "forwarded", forwarded)
            else:
                self.channels[channel].append((tenant, target, "forwarded", forwarded))

    def run(self, actions: list[Action]) -> Outputs:
        """Every action's routed records, then deliveries until nothing is in flight."""
        for action in actions:
            for key, record in routed(action):
                if self.rng is None:
                    self._apply(action.tenant, key, "routed", record)
                    continue
                partition = _slot(f"{action.tenant}|{key}", self.partitions)
                self.channels[(("partition", partition), self._subtask(seal(action.tenant, key)))].append(
                    (action.tenant, key, "routed", record)
                )
        while self.rng is not None:
            busy = [name for name, queue in self.channels.items() if queue]
            if not busy:
                break
            tenant, key, kind, item = self.channels[self.rng.choice(busy)].popleft()
            self._apply(tenant, key, kind, item)
        return self.out


def reference(actions: list[Action], caps: dict[str, int]) -> Outputs:
    """The reference: input order, every forward delivered at once."""
    return Network(caps).run(actions)


BASE_MS = 1_795_000_000_000
NAMES = ("app_opened", "product_viewed", "added_to_cart", "purchased")


def merge_heavy(seed: int, messages: int, users: int, tenant: str = "acme") -> list[Action]:
    """A workload of one tenant that links identifiers in every way the rules know: anonymous visits,
    logins, shared emails and phones, two emails in one message, devices moving between users, a
    customer id that meets another's email (a conflict), deletes, events up to 90 s late, attributes
    set, unset, added to and pulled from."""
    rng = random.Random(seed)
    out = []
    for seq in range(messages):
        u, t = rng.randrange(users), BASE_MS + seq * 1_000
        other = rng.randrange(users)
        roll = rng.random()
        kind = "batch"
        if roll < 0.02:
            kind, ids = "delete_user", Identifiers(customer_id=f"c{u}")
        elif roll < 0.35:  # an anonymous visitor on its device
            ids = Identifiers(anonymous_ids=[f"anon-{u}"], device_id=f"d{u}")
        elif roll < 0.50:  # logs in: the anonymous id joins the customer
            ids = Identifiers(customer_id=f"c{u}", anonymous_ids=[f"anon-{u}"])
        elif roll < 0.58:  # an anonymous visitor leaves an email (shared by a neighbour now and then)
            ids = Identifiers(emails=[f"u{u // 2}@example.com"], anonymous_ids=[f"anon-{u}"])
        elif roll < 0.63:  # a phone beside an anonymous id, or beside an email
            ids = Identifiers(phones=[f"+1555{u // 3:04d}"], anonymous_ids=[f"anon-{u}"])
            if rng.random() < 0.5:
                ids = Identifiers(emails=[f"u{u // 2}@example.com"], phones=[f"+1555{u // 3:04d}"])
        elif roll < 0.73:  # signed in on somebody's device: the device moves
            ids = Identifiers(customer_id=f"c{u}", emails=[f"u{u}@example.com"], device_id=f"d{other}")
        elif roll < 0.76:  # another customer with this email: a conflict
            ids = Identifiers(customer_id=f"c{other}", emails=[f"u{u}@example.com"])
        elif roll < 0.78:  # two emails at once
            ids = Identifiers(emails=[f"u{u}@example.com", f"alt{u}@example.com"])
        elif roll < 0.81:  # a device alone
            ids = Identifiers(device_id=f"d{u}")
        else:
            ids = Identifiers(emails=[f"u{u}@example.com"])
        events = [
            Event(rng.choice(NAMES), t - rng.randint(0, 90_000), {"n": rng.randint(1, 9)})
            for _ in range(rng.randint(0, 4) if kind == "batch" else 0)
        ]
        token = f"tok-{ids.device_id}-{rng.randint(0, 2)}" if rng.random() < 0.5 else None
        device = (
            Device(ids.device_id, rng.choice(["ios", "android"]), f"1.{rng.randint(0, 3)}", push_token=token)
            if ids.device_id
            else None
        )
        attributes = []
        if kind == "batch" and rng.random() < 0.5:
            op = rng.choice(["set", "set", "unset", "add_to_set", "pull"])
            name = "plan" if op in ("set", "unset") else "tags"
            value = rng.choice(["free", "pro"]) if name == "plan" else rng.choice(["a", "b", "c"])
            attributes = [AttributeOp(op, name, None if op == "unset" else value)]
        time_ms = max([e.time_ms for e in events], default=t - rng.randint(0, 30_000))
        out.append(Action(tenant, "sdk", f"m{seq}", kind, time_ms, ids, device, events, attributes))
    return out
