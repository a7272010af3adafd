"""Reproducible synthetic ingest traffic for tests and benchmarks (same seed, same records).

Valid records use one type per (event, property), so per-tenant schema decisions do not depend on the
order in which records of different partitions reach the job; invalid records cover every stateless
reason code.
"""

from __future__ import annotations

import json
import random

EVENTS = {
    "app_opened": {"screen": "str"},
    "product_viewed": {"sku": "str", "price": "num"},
    "added_to_cart": {"sku": "str", "qty": "num"},
    "purchased": {"total": "num", "coupon": "bool"},
}
TENANTS = ("acme", "globex")
# The local demo keys: config/tenants.yaml holds their hashes (`headwater write-key hash`).
WRITE_KEYS = {"acme": "wk_acme_live", "globex": "wk_globex_live", "bench": "wk_bench"}


def _iso(ms: int) -> str:
    from jobs.api_unification.timestamps import iso

    return iso(ms)


class Generator:
    def __init__(self, seed: int, arrival_ms: int, users: int = 500, tenants: tuple[str, ...] = TENANTS):
        self.rng = random.Random(seed)
        self.arrival_ms = arrival_ms
        self.users = users
        self.tenants = tenants

    def _props(self, name: str) -> dict:
        out = {}
        for prop, kind in EVENTS[name].items():
            out[prop] = {
                "str": lambda: f"v{self.rng.randint(1, 50)}",
                "num": lambda: round(self.rng.uniform(1, 500), 2),
                "bool": lambda: self.rng.random() < 0.5,
            }[kind]()
        return out

    def _time(self) -> int:
        return self.arrival_ms - self.rng.randint(0, 3_600_000)

    def _user(self) -> str:
        return f"u{self.rng.randint(1, self.users)}"

    def sdk(self, events: int = 10) -> dict:
        user = self._user()
        names = list(EVENTS)
        tenant = self.rng.choice(self.tenants)
        return {
            "tenant": tenant,
            "write_key": WRITE_KEYS[tenant],
            "message_id": f"sdk-{self.rng.getrandbits(64):x}",
            "sent_at": _iso(self.arrival_ms - self.rng.randint(0, 2000)),
            "device": {"id": f"d-{user}", "platform": self.rng.choice(["ios", "android"]), "app_version": "3.1.0"},
            "user": {"customer_id": user, "anonymous_id": f"anon-{user}"},
            "events": [
                {"name": (n := self.rng.choice(names)), "time": _iso(self._time()), "properties": self._props(n)}
                for _ in range(events)
            ],
            "attributes": {"plan": self.rng.choice(["free", "pro"])},
        }

    def api(self) -> dict:
        tenant = self.rng.choice(self.tenants)
        base = {
            "tenant": tenant,
            "write_key": WRITE_KEYS[tenant],
            "customer_id": self._user(),
            "timestamp": self._time(),
            "message_id": f"api-{self.rng.getrandbits(64):x}",
        }
        kind = self.rng.choice(["track", "track", "identify", "alias", "device"])
        if kind == "track":
            name = self.rng.choice(list(EVENTS))
            return {**base, "type": "track", "event": name, "properties": self._props(name)}
        if kind == "identify":
            return {
                **base,
                "type": "identify",
                "email": f"{base['customer_id']}@Example.com",
                "attributes": {"city": self.rng.choice(["Lisbon", "Pune", "Austin"]), "age": self.rng.randint(18, 80)},
            }
        if kind == "alias":
            return {**base, "type": "alias", "previous": {"anonymous_id": f"anon-{base['customer_id']}"}}
        return {**base, "type": "device", "device": {"id": f"d-{base['customer_id']}", "push_token": "tok"}}

    def partner(self) -> dict:
        tenant = self.rng.choice(self.tenants)
        base = {
            "writeKey": WRITE_KEYS[tenant],
            "userId": self._user(),
            "timestamp": _iso(self._time()),
            "messageId": f"seg-{self.rng.getrandbits(64):x}",
        }
        kind = self.rng.choice(["track", "identify", "page", "screen", "group"])
        if kind == "track":
            name = self.rng.choice(list(EVENTS))
            return {**base, "type": "track", "event": name, "properties": self._props(name)}
        if kind == "identify":
            return {**base, "type": "identify", "traits": {"email": f"{base['userId']}@example.com", "plan": "pro"}}
        if kind == "group":
            return {**base, "type": "group", "groupId": f"g{self.rng.randint(1, 9)}", "traits": {"seats": 5}}
        return {**base, "type": kind, "name": self.rng.choice(["Home", "Cart"])}

    def csv(self) -> dict:
        row = self.api()
        if row["type"] not in ("track", "identify"):
            row = {**row, "type": "identify", "attributes": {"imported": True}}
            row.pop("previous", None), row.pop("device", None)
        return {**row, "import": {"file": "customers.csv", "line": self.rng.randint(2, 10_000)}}

    def invalid(self, source: str) -> bytes:
        """A record refused as a whole, with a stateless reason."""
        good = json.loads(self.valid(source))
        choice = self.rng.randrange(7)
        if choice == 0:
            return b"{not json"
        if choice == 1:
            return b"\xff\xfe" + json.dumps(good).encode()
        if choice == 2:  # a write key no tenant holds (WRITE_KEY_REFUSED)
            good["tenant"] = "nobody"
            good["writeKey" if "writeKey" in good else "write_key"] = "wk_nobody"
        elif choice == 3:
            for k in ("customer_id", "userId", "anonymousId", "user", "device", "email", "previous"):
                good.pop(k, None)
        elif choice == 4:
            good["type"] = "teleport"
            good.pop("events", None)
        elif choice == 5:
            return json.dumps({**good, "x": "y" * 300_000}).encode()
        else:
            return b'{"tenant": "acme", "tenant": "globex"}'
        return json.dumps(good).encode()

    def valid(self, source: str) -> bytes:
        return json.dumps(getattr(self, source)()).encode()

    def partially_invalid_sdk(self) -> bytes:
        """An SDK batch with one bad event among good ones: only that event is refused."""
        batch = self.sdk()
        bad = self.rng.randrange(len(batch["events"]))
        batch["events"][bad] = self.rng.choice(
            [
                {**batch["events"][bad], "time": "not a time"},
                {**batch["events"][bad], "time": _iso(self.arrival_ms - 90 * 86_400_000)},
                {**batch["events"][bad], "name": ""},
                {**batch["events"][bad], "properties": {"deep": {"er": {"than": {"three": 1}}}}},
            ]
        )
        return json.dumps(batch).encode()

    def mixed(self, source: str, invalid_share: float = 0.1) -> bytes:
        roll = self.rng.random()
        if roll < invalid_share:
            return self.invalid(source)
        if source == "sdk" and roll < 2 * invalid_share:
            return self.partially_invalid_sdk()
        return self.valid(source)
