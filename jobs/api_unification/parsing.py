"""Strict JSON parsing of ingested bytes: anything ambiguous is refused with INVALID_JSON."""

from __future__ import annotations

import json

from jobs.api_unification.reasons import Reason, Refusal


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise Refusal(Reason.INVALID_JSON, f"duplicate key {key[:40]!r}")
        obj[key] = value
    return obj


def _no_constants(name):
    raise Refusal(Reason.INVALID_JSON, f"{name} is not valid JSON")


def parse_object(raw: bytes) -> dict:
    """A JSON object from UTF-8 bytes; refuses invalid UTF-8, NaN/Infinity, duplicate keys, non-objects."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refusal(Reason.INVALID_JSON, f"not UTF-8 at byte {exc.start}") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise Refusal(Reason.INVALID_JSON, f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise Refusal(Reason.INVALID_JSON, "nested too deeply") from None
    if not isinstance(value, dict):
        raise Refusal(Reason.INVALID_JSON, f"expected a JSON object, got {type(value).__name__}")
    return value
