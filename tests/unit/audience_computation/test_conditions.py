"""Audience conditions (common/contracts/audiences.py): parsed from JSON or refused in one line, then
evaluated over a user's attributes and recent event times (jobs/audience_computation/conditions.py),
with the event time at which the passing of time alone changes the answer."""

import json

import pytest

from common.contracts.audiences import (
    AtLeast,
    AudienceError,
    Equals,
    NoneWithin,
    audience_from_record,
    audience_record,
    parse_audience,
)
from common.serde.avro import AvroCodec
from jobs.audience_computation.conditions import DAY_MS, attributes_read, holds, kept_events, next_change_ms

NOW = 400 * DAY_MS


def _condition(node):
    return parse_audience("acme", "aud-1", json.dumps(node)).condition


@pytest.mark.parametrize(
    "node, attributes, result",
    [
        ({"attribute": "plan", "equals": "pro"}, {"plan": "pro"}, True),
        ({"attribute": "plan", "equals": "pro"}, {"plan": "free"}, False),
        ({"attribute": "plan", "equals": "pro"}, {}, False),
        ({"attribute": "vip", "equals": True}, {"vip": 1}, False),  # true is not 1
        ({"attribute": "n", "equals": 1}, {"n": 1.0}, True),
        ({"attribute": "country", "in": ["DE", "FR"]}, {"country": "FR"}, True),
        ({"attribute": "country", "in": ["DE", "FR"]}, {"country": "IT"}, False),
        ({"attribute": "ltv", "min": 100}, {"ltv": 100}, True),
        ({"attribute": "ltv", "min": 100, "max": 200}, {"ltv": 200.5}, False),
        ({"attribute": "ltv", "max": 10}, {"ltv": "5"}, False),  # a string is not a number
        ({"attribute": "email", "exists": True}, {"email": "a@x.io"}, True),
        ({"attribute": "email", "exists": True}, {"email": None}, False),
        ({"attribute": "email", "exists": False}, {}, True),
        ({"not": {"attribute": "plan", "equals": "pro"}}, {"plan": "free"}, True),
        ({"all": [{"attribute": "a", "exists": True}, {"attribute": "b", "exists": True}]}, {"a": 1}, False),
        ({"any": [{"attribute": "a", "exists": True}, {"attribute": "b", "exists": True}]}, {"a": 1}, True),
    ],
)
def test_attribute_conditions(node, attributes, result):
    assert holds(_condition(node), attributes, {}, NOW) is result


def test_at_least_k_events_in_the_last_d_days_and_when_it_stops_holding():
    condition = _condition({"event": "purchased", "at_least": 2, "days": 30})
    times = (NOW - 40 * DAY_MS, NOW - 20 * DAY_MS, NOW - 5 * DAY_MS)
    events = {"purchased": times}
    assert holds(condition, {}, events, NOW)
    # the second newest (20 days old) leaves the window 10 days from now: the user exits then
    assert next_change_ms(condition, events, NOW) == NOW + 10 * DAY_MS
    assert holds(condition, {}, events, NOW + 10 * DAY_MS - 1)
    assert not holds(condition, {}, events, NOW + 10 * DAY_MS)
    assert next_change_ms(condition, events, NOW + 10 * DAY_MS) is None  # one left: only a new event helps
    assert not holds(condition, {}, {"purchased": (NOW + 1,)}, NOW)  # after `now` does not count yet


def test_no_event_in_the_last_d_days_enters_when_the_last_one_ages_out():
    condition = _condition({"event": "app_opened", "none_in_days": 7})
    events = {"app_opened": (NOW - 30 * DAY_MS, NOW - 2 * DAY_MS)}
    assert not holds(condition, {}, events, NOW)
    assert next_change_ms(condition, events, NOW) == NOW + 5 * DAY_MS
    assert holds(condition, {}, events, NOW + 5 * DAY_MS)
    assert holds(condition, {}, {}, NOW) and next_change_ms(condition, {}, NOW) is None


def test_combinations_change_at_the_earliest_window_and_keep_the_longest_one():
    condition = _condition(
        {
            "all": [
                {"attribute": "plan", "equals": "pro"},
                {"not": {"event": "churned", "none_in_days": 3}},
                {
                    "any": [
                        {"event": "purchased", "at_least": 1, "days": 30},
                        {"event": "purchased", "at_least": 5, "days": 90},
                    ]
                },
            ]
        }
    )
    events = {"purchased": (NOW - 10 * DAY_MS,), "churned": (NOW - 1 * DAY_MS,)}
    assert holds(condition, {"plan": "pro"}, events, NOW)
    assert next_change_ms(condition, events, NOW) == NOW + 2 * DAY_MS  # the churn ages out first
    assert kept_events(condition) == {"churned": (3, 1), "purchased": (90, 5)}
    assert attributes_read(condition) == {"plan"}


@pytest.mark.parametrize(
    "node, message",
    [
        ({"attribute": "plan"}, 'the definition: ["attribute"] is not a condition'),
        ({"all": []}, "all: must be a non-empty list of conditions"),
        ({"all": [{"attribute": "", "equals": 1}]}, 'all[0].attribute: must be a non-empty string, not ""'),
        ({"any": [{"attribute": "a", "equals": {"x": 1}}]}, "any[0].equals: must be a string, number, boolean or null"),
        ({"attribute": "a", "min": "1"}, 'min: must be a number, not "1"'),
        ({"attribute": "a", "min": 2, "max": 1}, "min 2 is above max 1"),
        ({"attribute": "a", "exists": "yes"}, "exists: must be true or false"),
        ({"event": "e", "at_least": 2, "days": 0}, "days: must be a whole number from 1 to 366, not 0"),
        ({"event": "e", "at_least": True, "days": 3}, "at_least: must be a whole number from 1 to 10000, not true"),
        ({"event": "e", "none_in_days": 500}, "none_in_days: must be a whole number from 1 to 366"),
        ({"not": [1]}, "not: must be an object such as"),
    ],
)
def test_a_bad_definition_is_refused_in_one_line_saying_where(node, message):
    with pytest.raises(AudienceError) as refused:
        parse_audience("acme", "aud-1", json.dumps(node))
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_deep_or_huge_definitions_are_refused_not_crashed_on():
    deep = {"not": {"attribute": "a", "exists": True}}
    for _ in range(30):
        deep = {"not": deep}
    with pytest.raises(AudienceError, match="nests deeper than 16"):
        parse_audience("acme", "a", json.dumps(deep))
    with pytest.raises(AudienceError, match="nests deeper than"):
        parse_audience("acme", "a", "[" * 100_000 + "]" * 100_000)
    wide = {"any": [{"attribute": f"a{i}", "exists": True} for i in range(200)]}
    with pytest.raises(AudienceError, match="more than 100 conditions"):
        parse_audience("acme", "a", json.dumps(wide))
    with pytest.raises(AudienceError, match="not JSON"):
        parse_audience("acme", "a", "{")


def test_a_definition_round_trips_through_its_avro_record():
    codec = AvroCodec()
    text = json.dumps({"all": [{"attribute": "plan", "equals": "pro"}, {"event": "e", "none_in_days": 7}]})
    audience = audience_from_record(
        codec.decode(codec.encode("audience_definition", audience_record("acme", "a1", text)))
    )
    assert audience.key == "acme:a1"
    assert audience.condition.conditions == (Equals("plan", "pro"), NoneWithin("e", 7))
    assert _condition({"event": "e", "at_least": 3, "days": 30}) == AtLeast("e", 3, 30)
