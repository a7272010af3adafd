"""Whether a user meets an audience's condition (common/contracts/audiences.py), and when the passing
of event time alone could change that: the rules of audience-computation (issue 20), pure.

A user is seen as its attributes (name -> value) and, per event name a condition counts, the event
times of its recent events in ascending order. "The last D days" ends at `now_ms`, the event time
the user is evaluated at (its newest event, or an event-time timer): an event at t counts while
now - D days < t <= now. An audience whose window conditions change with time alone asks for a
timer at `next_change_ms`: a user who met "at least 3 purchases in 30 days" exits when the third
newest purchase turns 30 days old, and one who did not meet "no app_opened in 7 days" enters 7 days
after the last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from common.contracts.audiences import All, Any_, AtLeast, Equals, Exists, In, NoneWithin, Not, Range

DAY_MS = 24 * 3600 * 1000


def _same(have, want) -> bool:
    """Equal as JSON values: true is not 1, and 1 is 1.0."""
    if isinstance(have, bool) or isinstance(want, bool):
        return isinstance(have, bool) and isinstance(want, bool) and have is want
    return have == want


def _in_window(times: Sequence[int], days: int, now_ms: int) -> list[int]:
    horizon = now_ms - days * DAY_MS
    return [t for t in times if horizon < t <= now_ms]


def holds(condition, attributes: Mapping, events: Mapping[str, Sequence[int]], now_ms: int) -> bool:
    match condition:
        case All(conditions):
            return all(holds(c, attributes, events, now_ms) for c in conditions)
        case Any_(conditions):
            return any(holds(c, attributes, events, now_ms) for c in conditions)
        case Not(inner):
            return not holds(inner, attributes, events, now_ms)
        case Equals(attribute, value):
            return attribute in attributes and _same(attributes[attribute], value)
        case In(attribute, values):
            return attribute in attributes and any(_same(attributes[attribute], v) for v in values)
        case Range(attribute, low, high):
            value = attributes.get(attribute)
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False
            return (low is None or value >= low) and (high is None or value <= high)
        case Exists(attribute, exists):
            return (attributes.get(attribute) is not None) == exists
        case AtLeast(event, count, days):
            return len(_in_window(events.get(event, ()), days, now_ms)) >= count
        case NoneWithin(event, days):
            return not _in_window(events.get(event, ()), days, now_ms)
    raise TypeError(f"not a condition: {condition!r}")


def next_change_ms(condition, events: Mapping[str, Sequence[int]], now_ms: int) -> int | None:
    """The earliest event time after `now_ms` at which a window condition of `condition` changes with
    no new event (an event ages out of its window); None if none can."""
    match condition:
        case All(conditions) | Any_(conditions):
            found = [t for c in conditions if (t := next_change_ms(c, events, now_ms)) is not None]
            return min(found) if found else None
        case Not(inner):
            return next_change_ms(inner, events, now_ms)
        case AtLeast(event, count, days):
            inside = _in_window(events.get(event, ()), days, now_ms)
            return inside[-count] + days * DAY_MS if len(inside) >= count else None
        case NoneWithin(event, days):
            inside = _in_window(events.get(event, ()), days, now_ms)
            return inside[-1] + days * DAY_MS if inside else None
    return None


def kept_events(condition) -> dict[str, tuple[int, int]]:
    """Event name -> (the longest window in days any condition counts it in, how many of its newest
    times any condition needs): what a user's state must keep of its events. "At least K in D days"
    needs the newest K inside the window, "none in D days" the newest one; older ones never decide."""
    match condition:
        case All(conditions) | Any_(conditions):
            merged: dict[str, tuple[int, int]] = {}
            for c in conditions:
                for name, (days, count) in kept_events(c).items():
                    old_days, old_count = merged.get(name, (0, 0))
                    merged[name] = (max(days, old_days), max(count, old_count))
            return merged
        case Not(inner):
            return kept_events(inner)
        case AtLeast(event=event, count=count, days=days):
            return {event: (days, count)}
        case NoneWithin(event=event, days=days):
            return {event: (days, 1)}
    return {}


def attributes_read(condition) -> frozenset[str]:
    """The attributes a condition looks at: a change of any other leaves its answer as it was."""
    match condition:
        case All(conditions) | Any_(conditions):
            return frozenset().union(*(attributes_read(c) for c in conditions))
        case Not(inner):
            return attributes_read(inner)
        case Equals(attribute=a) | In(attribute=a) | Range(attribute=a) | Exists(attribute=a):
            return frozenset({a})
    return frozenset()
