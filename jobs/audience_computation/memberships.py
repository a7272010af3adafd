"""A user's audience memberships and the changes that make messages: the rules of audience-computation,
pure. The operator holds a `User` per (tenant, user) and calls one function per thing it reads; each
returns the `Change`s to send to `hw.compute.output`, in order.

Event time:
- A user's clock (`now_ms`) is its newest event time, or the time of a change point it went through.
- Before the clock moves to t, the user goes through every change point before t first: each
  event-time moment at which a window condition flips with no new event (conditions.next_change_ms).
  So an exit by time is the same message whether the job's clock (a timer) or the user's next event
  got there first.
- An event older than the clock (late) is kept if its window still holds it, and counts from the
  clock's time on.

Message ids are a hash of (tenant, user, audience, trigger, what makes the change unique): for a
membership change the how-many-th change of that membership it is. A replay of the same input makes the
same changes in the same order, so the same ids, and profile-dedupe's duplicate window absorbs them.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field

from common.contracts.compute import Trigger
from jobs.audience_computation.conditions import DAY_MS, holds, next_change_ms
from jobs.audience_computation.definitions import TenantAudiences


@dataclass
class User:
    """What the job keeps of one user (pickled as `pack()`: tests/unit/test_state_layouts.py)."""

    attributes: dict = field(default_factory=dict)
    events: dict[str, list[int]] = field(default_factory=dict)  # name -> ascending event times kept
    now_ms: int = 0
    inside: set[str] = field(default_factory=set)  # audience ids the user is in
    changes: dict[str, int] = field(default_factory=dict)  # audience id -> membership changes so far
    ids: frozenset = frozenset()  # (type, value) of its external ids
    merged_into: str | None = None  # merged away: what still comes for it goes to the survivor
    deleted: bool = False
    due_ms: int | None = None  # the change point the job's timers hold for it (the operator's)
    handed: int = 0  # merged away: handovers sent to the survivor so far
    taken: dict[str, int] = field(default_factory=dict)  # merged-away user -> last handover taken

    def pack(self) -> tuple:
        """Plain values only (sets as sorted tuples): a savepoint must not name a class."""
        return (
            self.attributes,
            self.events,
            self.now_ms,
            tuple(sorted(self.inside)),
            self.changes,
            tuple(sorted(self.ids)),
            self.merged_into,
            self.deleted,
            self.due_ms,
            self.handed,
            self.taken,
        )

    @staticmethod
    def unpack(packed: tuple | None) -> User | None:
        if packed is None:
            return None
        attributes, events, now_ms, inside, changes, ids, merged_into, deleted, due_ms, handed, taken = packed
        return User(
            attributes,
            events,
            now_ms,
            set(inside),
            changes,
            frozenset(ids),
            merged_into,
            deleted,
            due_ms,
            handed,
            taken,
        )


@dataclass(frozen=True)
class Change:
    """One message to send: the user `entered` an audience or not, and why."""

    audience_id: str
    entered: bool
    trigger: Trigger
    event_time_ms: int
    unique: str  # what tells this message apart from the user's others for the audience
    merged: tuple[str, ...] = ()  # profile_merge: the profiles before the merge
    external_id: tuple[str, str, int] | None = None  # new_external_id: (type, value, first seen)


def message_id(tenant: str, user_id: str, change: Change) -> str:
    text = "\0".join((tenant, user_id, change.audience_id, change.trigger.value, change.unique))
    return "aud-" + hashlib.sha256(text.encode()).hexdigest()[:32]


# -- evaluating -----------------------------------------------------------------------------------


def _is_in(user: User, audiences: TenantAudiences, audience_id: str, at_ms: int) -> bool:
    audience = audiences.audiences.get(audience_id)
    return audience is not None and holds(audience.condition, user.attributes, user.events, at_ms)


def _flip(user: User, audience_id: str, entered: bool) -> int:
    (user.inside.add if entered else user.inside.discard)(audience_id)
    user.changes[audience_id] = n = user.changes.get(audience_id, 0) + 1
    return n


def _evaluate(user: User, audiences: TenantAudiences, ids, at_ms: int) -> list[Change]:
    """value_changed for each of `ids` whose answer at `at_ms` differs from the user's membership."""
    out = []
    for audience_id in ids:
        entered = _is_in(user, audiences, audience_id, at_ms)
        if entered != (audience_id in user.inside):
            n = _flip(user, audience_id, entered)
            out.append(Change(audience_id, entered, Trigger.VALUE_CHANGED, at_ms, str(n)))
    return out


def next_due(user: User, audiences: TenantAudiences) -> int | None:
    """The next event time at which time alone may change one of the user's memberships."""
    found = [
        t
        for audience_id in audiences.windowed
        if (t := next_change_ms(audiences.audiences[audience_id].condition, user.events, user.now_ms)) is not None
    ]
    return min(found) if found else None


def advance(user: User, audiences: TenantAudiences, to_ms: int, *, move: bool) -> list[Change]:
    """Go through every change point up to `to_ms`; with `move`, the clock then stands at `to_ms`
    (a new event), else at the last change point passed (the job's clock: a timer)."""
    out = []
    while (due := next_due(user, audiences)) is not None and due <= to_ms:
        user.now_ms = due
        out += _evaluate(user, audiences, audiences.windowed, due)
    if move and to_ms > user.now_ms:
        user.now_ms = to_ms
    return out


# What a user keeps of every event name whatever the definitions say: a definition put later judges
# the user on this much of its past ("at least 1 purchase in 30 days" sees the purchases made before it).
KEEP_DAYS = 30
KEEP_COUNT = 16


def _keep(user: User, audiences: TenantAudiences, name: str, times) -> bool:
    """Add event times of `name` to what the user keeps: the newest KEEP_COUNT in KEEP_DAYS, or more if
    a condition counts more. True if an audience counts the name."""
    counted = audiences.kept.get(name)
    days, count = counted or (0, 0)
    days, count = max(days, KEEP_DAYS), max(count, KEEP_COUNT)
    horizon = user.now_ms - days * DAY_MS
    have = user.events.get(name, [])
    for t in times:
        if t > horizon:
            bisect.insort(have, t)
    have = [t for t in have if t > horizon][-count:]
    if have:
        user.events[name] = have
    else:
        user.events.pop(name, None)
    return counted is not None


def _changed_attributes(before: dict, after: dict) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k, _MISSING) != after.get(k, _MISSING)}


_MISSING = object()


def on_event(user: User, audiences: TenantAudiences, name: str, time_ms: int, attributes: dict) -> list[Change]:
    """An enriched event of the user, with the snapshot of its attributes after the event's message.
    Its first event judges it by every audience (one such as "no app_opened in 7 days" holds with no
    event at all); later ones by the audiences that count the event or read a changed attribute."""
    first = user.now_ms == 0 and not user.changes
    out = advance(user, audiences, time_ms, move=True)
    which = set(audiences.counting.get(name, ())) if _keep(user, audiences, name, (time_ms,)) else set()
    changed = _changed_attributes(user.attributes, attributes)
    if first:
        user.attributes = attributes
        which = set(audiences.audiences)
    elif changed:
        user.attributes = attributes
        for attribute in changed:
            which.update(audiences.reading.get(attribute, ()))
    return out + _evaluate(user, audiences, sorted(which), user.now_ms)


def on_events(user: User, audiences: TenantAudiences, events: dict[str, list[int]]) -> list[Change]:
    """Events of a merged-away user that reached it after its merge, handed over to the survivor."""
    newest = max((t for times in events.values() for t in times), default=user.now_ms)
    out = advance(user, audiences, newest, move=True)
    which: set[str] = set()
    for name, times in sorted(events.items()):
        if _keep(user, audiences, name, times):
            which.update(audiences.counting.get(name, ()))
    return out + _evaluate(user, audiences, sorted(which), user.now_ms)


def on_timer(user: User, audiences: TenantAudiences, clock_ms: int) -> list[Change]:
    """The job's event-time clock reached `clock_ms`."""
    return advance(user, audiences, clock_ms, move=False)


def on_definitions(user: User, audiences: TenantAudiences, audience_ids) -> list[Change]:
    """Audiences of the user's tenant were put or deleted: judge the user by them now (a user known
    only from its ids has no clock yet: its first event judges it)."""
    if user.now_ms == 0 and not user.changes:
        return []
    for name in list(user.events):
        _keep(user, audiences, name, ())  # trimmed to what the new definitions need
    return _evaluate(user, audiences, sorted(audience_ids), user.now_ms)


def on_identity(user: User, ids: list[tuple[str, str, int]]) -> list[Change]:
    """The user's external ids (hw.identity.profiles): new_external_id, per audience it is in, for
    each id it did not have. Its first ids are not new ids: profile-dedupe waits for a profile's first
    record before it sends anything for it."""
    known = user.ids
    user.ids = frozenset((t, v) for t, v, _ in ids)
    if not known:
        return []
    new = [i for i in sorted(ids) if (i[0], i[1]) not in known]
    return [
        Change(audience_id, True, Trigger.NEW_EXTERNAL_ID, user.now_ms, f"{t}\0{v}", external_id=(t, v, seen))
        for audience_id in sorted(user.inside)
        for t, v, seen in new
    ]


def on_delete(user: User) -> list[Change]:
    """The user was deleted (for ever): it leaves every audience, and its state goes."""
    out = []
    for audience_id in sorted(user.inside):
        n = _flip(user, audience_id, False)
        out.append(Change(audience_id, False, Trigger.VALUE_CHANGED, user.now_ms, str(n)))
    user.attributes, user.events, user.ids, user.deleted = {}, {}, frozenset(), True  # no identifier stays
    return out


@dataclass(frozen=True)
class Handover:
    """What a merged-away user leaves its survivor (Avro `audience_handover`)."""

    from_user_id: str
    sequence: int  # 1: the merge; then one per event that came for the merged user after it
    now_ms: int
    attributes: dict
    events: dict[str, list[int]]
    inside: frozenset

    @property
    def merge(self) -> bool:
        return self.sequence == 1


def hand_over(user: User, from_user_id: str, survivor_id: str) -> Handover:
    """The user is merged into `survivor_id`: what it leaves, and it keeps only where it went."""
    user.handed = 1
    handover = Handover(from_user_id, 1, user.now_ms, user.attributes, user.events, frozenset(user.inside))
    user.attributes, user.events, user.inside, user.merged_into = {}, {}, set(), survivor_id
    return handover


def hand_on(user: User, from_user_id: str, name: str, time_ms: int) -> Handover:
    """An event that came for a merged-away user after its merge: for the survivor."""
    user.handed += 1
    return Handover(from_user_id, user.handed, time_ms, {}, {name: [time_ms]}, frozenset())


def take(user: User, handover: Handover) -> bool:
    """Whether the survivor takes this handover: each once, in order (a replay writes them again)."""
    if handover.sequence <= user.taken.get(handover.from_user_id, 0):
        return False
    user.taken[handover.from_user_id] = handover.sequence
    return True


def on_merge(user: User, user_id: str, audiences: TenantAudiences, handover: Handover) -> list[Change]:
    """A user merged into this one: its memberships judged on the merged state, with a profile_merge
    message for each audience either was in or the merged user is in."""
    out = advance(user, audiences, handover.now_ms, move=True)
    before = set(user.inside)
    for name, times in sorted(handover.events.items()):
        _keep(user, audiences, name, times)
    user.attributes = {**handover.attributes, **user.attributes}
    merged = (user_id, handover.from_user_id)
    for audience_id in sorted(set(audiences.audiences) | before):
        entered = _is_in(user, audiences, audience_id, user.now_ms)
        if not (entered or audience_id in before or audience_id in handover.inside):
            continue
        if entered != (audience_id in before):
            _flip(user, audience_id, entered)
        out.append(
            Change(audience_id, entered, Trigger.PROFILE_MERGE, user.now_ms, handover.from_user_id, merged=merged)
        )
    return out
