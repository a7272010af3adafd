"""Property and attribute values: names checked, nested objects flattened, types classified, limits applied."""

from __future__ import annotations

from functools import lru_cache

from common.contracts.actions import Value
from common.contracts.rejections import Reason, Refusal
from common.contracts.tenants import Limits

MAX_NESTING = 3  # {"a": {"b": {"c": 1}}} -> "a.b.c"; deeper objects are refused
INT64 = (-(2**63), 2**63 - 1)


def type_of(value: Value) -> str:
    """The type tracked per tenant: ints and floats are both "number" (a price of 10 then 10.5 is fine)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array"


def check_name(name: object, path: str, limits: Limits) -> str:
    if not isinstance(name, str):
        raise Refusal(Reason.INVALID_FIELD, f"{path}: name must be a non-empty string", path)
    problem = _name_problem(name)
    if problem is not None:
        reason, text = problem
        raise Refusal(reason, f"{path}: {text}", path)
    return name


@lru_cache(maxsize=8192)  # names repeat (event and property names): check each once
def _name_problem(name: str) -> tuple[Reason, str] | None:
    if not name.strip():
        return Reason.INVALID_FIELD, "name must be a non-empty string"
    if len(name) > 255:
        return Reason.LIMIT_EXCEEDED, "name longer than 255 characters"
    if name.startswith("$") or "\x00" in name or any(not part for part in name.split(".")):
        return Reason.INVALID_FIELD, f"name {name[:40]!r} may not start with $, hold NUL or empty dot parts"
    return None


def _scalar(value: object, path: str, limits: Limits):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            raise Refusal(Reason.UNSUPPORTED_TYPE, f"{path}: integer outside 64 bits", path)
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        if len(value) > limits.max_string_length:
            raise Refusal(
                Reason.LIMIT_EXCEEDED,
                f"{path}: string of {len(value)} characters (limit {limits.max_string_length})",
                path,
            )
        return value
    raise Refusal(Reason.UNSUPPORTED_TYPE, f"{path}: {type(value).__name__} values are not supported", path)


def normalize_properties(raw: object, path: str, limits: Limits) -> dict[str, Value]:
    """A flat dict of checked values. Raises Refusal for the whole property set (the caller decides
    what that refuses: one event, or one attribute update)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise Refusal(Reason.INVALID_FIELD, f"{path} must be an object", path)
    out: dict[str, Value] = {}
    _flatten(raw, "", path, out, limits, depth=1)
    if len(out) > limits.max_properties_per_event:
        raise Refusal(
            Reason.LIMIT_EXCEEDED, f"{path}: {len(out)} properties (limit {limits.max_properties_per_event})", path
        )
    return out


def _flatten(raw: dict, prefix: str, path: str, out: dict, limits: Limits, depth: int) -> None:
    for key, value in raw.items():
        name = check_name(key, f"{path}.{key}", limits)
        full = f"{prefix}{name}"
        if isinstance(value, dict):
            if depth >= MAX_NESTING:
                raise Refusal(Reason.UNSUPPORTED_TYPE, f"{path}.{full}: objects nested deeper than {MAX_NESTING}", path)
            _flatten(value, f"{full}.", path, out, limits, depth + 1)
        elif isinstance(value, list):
            out[full] = [_scalar(v, f"{path}.{full}[]", limits) for v in value]  # nested lists/objects refused
        else:
            out[full] = _scalar(value, f"{path}.{full}", limits)
