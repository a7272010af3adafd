"""A reference model of audience-computation's memberships, by brute force: each user keeps its whole
history (nothing trimmed, no incremental state, no timers) and is judged from scratch by every audience
at every moment its answer could change. Tests compare what the job sends with it.

The rules it models (docs/audiences.md):
- a user's events are taken in the order they reach it; its clock is its newest event time;
- before the clock moves to t, the user goes through every change point in between (the moments
  at which a window condition could flip with no new event: conditions.next_change_ms), in order;
- the job's clock (`clock`: each bucket's) takes every user through the change points up to it,
  without moving the user's own clock past the last of them;
- a membership change is a message (entered or exited) at the moment it happened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from common.contracts.audiences import parse_condition
from jobs.audience_computation.conditions import holds, next_change_ms


@dataclass
class ModelUser:
    attributes: dict = field(default_factory=dict)
    events: dict[str, list[int]] = field(default_factory=dict)
    now_ms: int | None = None
    inside: set[str] = field(default_factory=set)


class AudienceModel:
    def __init__(self, definitions: dict[str, dict]):
        """`definitions`: audience id -> condition JSON (one tenant)."""
        self.users: dict[str, ModelUser] = {}
        self.sent: list[tuple[str, str, bool, int]] = []  # (user, audience, entered, event time)
        self.define(definitions)

    def define(self, definitions: dict[str, dict]) -> None:
        """The tenant's definitions are now these: every user is judged by them at its clock."""
        self.conditions = {k: parse_condition(v) for k, v in sorted(definitions.items())}
        for user_id, user in self.users.items():
            if user.now_ms is not None:
                self._judge(user_id, user, user.now_ms)

    def _judge(self, user_id: str, user: ModelUser, at_ms: int) -> None:
        events = {name: sorted(times) for name, times in user.events.items()}
        for audience_id in sorted(set(self.conditions) | user.inside):  # a deleted audience: everyone leaves
            condition = self.conditions.get(audience_id)
            entered = condition is not None and holds(condition, user.attributes, events, at_ms)
            if entered != (audience_id in user.inside):
                (user.inside.add if entered else user.inside.discard)(audience_id)
                self.sent.append((user_id, audience_id, entered, at_ms))

    def _through(self, user_id: str, user: ModelUser, to_ms: int) -> None:
        """Every change point after the user's clock up to `to_ms`: the moments at which a window
        condition of some audience flips with no new event (conditions.next_change_ms, on the whole
        history), in time order."""
        while True:
            events = {name: sorted(times) for name, times in user.events.items()}
            due = [
                t
                for condition in self.conditions.values()
                if (t := next_change_ms(condition, events, user.now_ms)) is not None and t <= to_ms
            ]
            if not due:
                return
            user.now_ms = min(due)
            self._judge(user_id, user, user.now_ms)

    def event(self, user_id: str, name: str, time_ms: int, attributes: dict) -> None:
        user = self.users.setdefault(user_id, ModelUser())
        if user.now_ms is not None:
            self._through(user_id, user, time_ms)
        user.now_ms = time_ms if user.now_ms is None else max(user.now_ms, time_ms)
        user.events.setdefault(name, []).append(time_ms)
        user.attributes = dict(attributes)
        self._judge(user_id, user, user.now_ms)

    def clock(self, clock_ms) -> None:
        """The job's clock reached `clock_ms` (a number, or user id -> the clock of the user's bucket)."""
        for user_id, user in self.users.items():
            if user.now_ms is not None:
                self._through(user_id, user, clock_ms(user_id) if callable(clock_ms) else clock_ms)

    def memberships(self) -> dict[str, set[str]]:
        return {user_id: set(user.inside) for user_id, user in self.users.items()}

    def messages_of(self, user_id: str) -> list[tuple[str, bool, int]]:
        return [(a, entered, t) for u, a, entered, t in self.sent if u == user_id]


def condition_json(node) -> str:
    return json.dumps(node, sort_keys=True)
