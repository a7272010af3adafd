"""Audience definitions (`hw.audiences.config`, compacted, Avro `audience_definition`): which of a
tenant's users are in an audience, as a condition over the user's attributes and recent events.
`headwater audiences put|list|delete` writes them (issue 20: audience-computation reads them into
broadcast state).

A condition is JSON, one of:

    {"all": [c, ...]}   {"any": [c, ...]}   {"not": c}
    {"attribute": "plan", "equals": "pro"}
    {"attribute": "country", "in": ["DE", "FR"]}
    {"attribute": "ltv", "min": 100, "max": 500}          (numeric; either bound may be left out)
    {"attribute": "email", "exists": true}
    {"event": "purchased", "at_least": 3, "days": 30}     (at least 3 in the last 30 days)
    {"event": "app_opened", "none_in_days": 7}            (none in the last 7 days)

"The last D days" is event time: up to the newest event the job has seen of the user, or a timer.
A definition that is not one of these is refused with one line naming where (`all[1].in: ...`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from common.errors import HeadwaterError

MAX_DAYS = 366  # a window holds the user's event times that long: bounded state
MAX_DEPTH = 16
MAX_CONDITIONS = 100


class AudienceError(HeadwaterError, ValueError):
    pass


@dataclass(frozen=True)
class All:
    conditions: tuple


@dataclass(frozen=True)
class Any_:
    conditions: tuple


@dataclass(frozen=True)
class Not:
    condition: object


@dataclass(frozen=True)
class Equals:
    attribute: str
    value: object


@dataclass(frozen=True)
class In:
    attribute: str
    values: tuple


@dataclass(frozen=True)
class Range:
    attribute: str
    min: float | None
    max: float | None


@dataclass(frozen=True)
class Exists:
    attribute: str
    exists: bool


@dataclass(frozen=True)
class AtLeast:
    event: str
    count: int
    days: int


@dataclass(frozen=True)
class NoneWithin:
    event: str
    days: int


@dataclass(frozen=True)
class Audience:
    tenant: str
    audience_id: str
    condition: object  # one of the classes above

    @property
    def key(self) -> str:
        return f"{self.tenant}:{self.audience_id}"


def _show(value) -> str:
    """A value as JSON, cut short: an error message stays one readable line."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _at(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


def _fail(path: str, problem: str):
    raise AudienceError(f"audience definition: {path or 'the definition'}: {problem}")


def _name(node: dict, field: str, path: str) -> str:
    value = node.get(field)
    if not isinstance(value, str) or not value.strip():
        _fail(_at(path, field), f"must be a non-empty string, not {_show(value)}")
    return value


def _whole(node: dict, field: str, path: str, low: int, high: int) -> int:
    value = node.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        _fail(
            _at(path, field),
            f"must be a whole number from {low} to {high}, not {_show(value)}",
        )
    return value


def _scalar(value, path: str):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    _fail(path, f"must be a string, number, boolean or null, not {_show(value)}")


def _bound(node: dict, field: str, path: str) -> float | None:
    value = node.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(_at(path, field), f"must be a number, not {_show(value)}")
    return value


SHAPES = {
    frozenset({"all"}),
    frozenset({"any"}),
    frozenset({"not"}),
    frozenset({"attribute", "equals"}),
    frozenset({"attribute", "in"}),
    frozenset({"attribute", "min"}),
    frozenset({"attribute", "max"}),
    frozenset({"attribute", "min", "max"}),
    frozenset({"attribute", "exists"}),
    frozenset({"event", "at_least", "days"}),
    frozenset({"event", "none_in_days"}),
}


def parse_condition(node, path: str = "", depth: int = 0, counted: list[int] | None = None):
    """A condition from its JSON form; AudienceError naming the first thing to fix."""
    counted = counted if counted is not None else [0]
    counted[0] += 1
    if counted[0] > MAX_CONDITIONS:
        _fail("", f"has more than {MAX_CONDITIONS} conditions")
    if depth > MAX_DEPTH:
        _fail(path, f"nests deeper than {MAX_DEPTH}")
    if not isinstance(node, dict):
        _fail(path, f'must be an object such as {{"attribute": "plan", "equals": "pro"}}, not {_show(node)}')
    if frozenset(node) not in SHAPES:
        _fail(
            path,
            f"{_show(sorted(node))} is not a condition: use all, any, not, attribute with equals, in, "
            "min/max or exists, or event with at_least and days, or none_in_days",
        )
    if "all" in node or "any" in node:
        kind = "all" if "all" in node else "any"
        items, here = node[kind], _at(path, kind)
        if not isinstance(items, list) or not items:
            _fail(here, "must be a non-empty list of conditions")
        parsed = tuple(parse_condition(c, f"{here}[{i}]", depth + 1, counted) for i, c in enumerate(items))
        return All(parsed) if kind == "all" else Any_(parsed)
    if "not" in node:
        return Not(parse_condition(node["not"], _at(path, "not"), depth + 1, counted))
    if "attribute" in node:
        attribute = _name(node, "attribute", path)
        if "equals" in node:
            return Equals(attribute, _scalar(node["equals"], _at(path, "equals")))
        if "in" in node:
            values = node["in"]
            where = _at(path, "in")
            if not isinstance(values, list) or not values:
                _fail(where, "must be a non-empty list of values")
            return In(attribute, tuple(_scalar(v, f"{where}[{i}]") for i, v in enumerate(values)))
        if "exists" in node:
            if not isinstance(node["exists"], bool):
                _fail(_at(path, "exists"), f"must be true or false, not {_show(node['exists'])}")
            return Exists(attribute, node["exists"])
        low, high = _bound(node, "min", path), _bound(node, "max", path)
        if low is None and high is None:
            _fail(path, "a range needs min or max")
        if low is not None and high is not None and low > high:
            _fail(path, f"min {low} is above max {high}")
        return Range(attribute, low, high)
    event = _name(node, "event", path)
    if "at_least" in node:
        return AtLeast(event, _whole(node, "at_least", path, 1, 10_000), _whole(node, "days", path, 1, MAX_DAYS))
    return NoneWithin(event, _whole(node, "none_in_days", path, 1, MAX_DAYS))


def parse_audience(tenant: str, audience_id: str, condition_json: str) -> Audience:
    """An audience from the CLI's or the topic's JSON text; AudienceError saying what to fix."""
    if not tenant.strip() or not audience_id.strip():
        raise AudienceError("audience definition: the tenant and the audience id must not be empty")
    try:
        node = json.loads(condition_json)
    except ValueError as exc:
        raise AudienceError(f"audience definition: not JSON: {exc}") from None
    except RecursionError:
        raise AudienceError(f"audience definition: nests deeper than {MAX_DEPTH}") from None
    return Audience(tenant, audience_id, parse_condition(node))


def audience_record(tenant: str, audience_id: str, condition_json: str, deleted: bool = False) -> dict:
    return {"tenant": tenant, "audience_id": audience_id, "condition_json": condition_json, "deleted": deleted}


def audience_from_record(record: dict) -> Audience:
    return parse_audience(record["tenant"], record["audience_id"], record["condition_json"])
