"""Strict JSON parsing of ingested bytes: anything ambiguous is refused with INVALID_JSON."""

from __future__ import annotations

import json
import re

from common.contracts.rejections import Reason, Refusal


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise Refusal(Reason.INVALID_JSON, f"duplicate key {key[:40]!r}")
        obj[key] = value
    return obj


def _no_constants(name):
    raise Refusal(Reason.INVALID_JSON, f"{name} is not valid JSON")


# Deeper JSON is refused before parsing. Python's parser would refuse it too, but at a depth that
# depends on the interpreter's recursion limit and on how deep its caller's stack already is: the same
# bytes could be refused in one process and accepted in another (a replay must decide the same way).
MAX_DEPTH = 100
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def _too_deep(text: str) -> bool:
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > MAX_DEPTH:
            return True
    return False


# A \u escape of a UTF-16 surrogate. In pairs they make one character; alone they make a string that no
# UTF-8 encoder takes (Avro, Kafka, the JVM), so a message holding one would fail every hop after this.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _unpaired_surrogate(value) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_unpaired_surrogate(k) or _unpaired_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unpaired_surrogate(v) for v in value)
    return False


def parse_object(raw: bytes) -> dict:
    """A JSON object from UTF-8 bytes; refuses invalid UTF-8, NaN/Infinity, duplicate keys, non-objects,
    and escaped UTF-16 surrogates that do not pair up (valid JSON syntax, but not Unicode text)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refusal(Reason.INVALID_JSON, f"not UTF-8 at byte {exc.start}") from None
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _too_deep(text):  # counting first: cheap, and enough
        raise Refusal(Reason.INVALID_JSON, f"nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise Refusal(Reason.INVALID_JSON, f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise Refusal(Reason.INVALID_JSON, "nested too deeply") from None
    if not isinstance(value, dict):
        raise Refusal(Reason.INVALID_JSON, f"expected a JSON object, got {type(value).__name__}")
    try:
        unpaired = _SURROGATE_ESCAPE.search(text) is not None and _unpaired_surrogate(value)
    except RecursionError:
        raise Refusal(Reason.INVALID_JSON, "nested too deeply") from None
    if unpaired:
        raise Refusal(Reason.INVALID_JSON, "a \\u escape of an unpaired UTF-16 surrogate is not Unicode text")
    return value
