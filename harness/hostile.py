"""Malformed, truncated, oversized, wrongly typed and hostile ingest payloads, as hypothesis strategies.

Each payload starts from a valid record of its source for one tenant (cli/synthetic.py), carries
a marker `mk-<tenant>-<n>` in its identifiers and values, and then maybe goes through one mutation:
cut short, invalid UTF-8, a value of the wrong type, deep nesting, huge strings, NaN/Infinity,
duplicate keys, fields removed or added, control characters, no JSON at all, or spoofed: naming
another tenant without its write key. A marker only ever
appears in payloads of its own tenant, so finding `mk-globex-` in a document of acme means one
tenant's data leaked into another's (the tenant-isolation check). Used by the pure property test of
api-unification and by the end-to-end fuzz test on the local cluster.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from hypothesis import strategies as st

from cli.synthetic import TENANTS, WRITE_KEYS, Generator

SOURCES = ("sdk", "api", "partner", "csv")
MARKER = re.compile(r"mk-(acme|globex)-\d+")
MAX_PAYLOAD_BYTES = 262_144  # config/tenants.yaml: larger ones are PAYLOAD_TOO_LARGE

# mutation -> weight (per 100): most payloads are broken in one way; a few stay valid.
MUTATIONS = {
    "valid": 14,
    "truncated": 10,
    "invalid_utf8": 8,
    "wrong_type": 14,
    "deep_nesting": 5,
    "long_string": 6,
    "oversized": 1,
    "nan": 6,
    "duplicate_key": 6,
    "missing_field": 10,
    "extra_fields": 8,
    "control_chars": 6,
    "not_json": 6,
    "spoofed": 8,
}


@dataclass(frozen=True)
class Payload:
    source: str
    tenant: str  # the tenant whose marker it carries
    marker: str
    mutation: str
    raw: bytes


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)


def _base(source: str, tenant: str, n: int, arrival_ms: int) -> dict:
    """A valid record of `source` for `tenant`, every identifier and one value carrying the marker."""
    generator = Generator(n, arrival_ms, users=50)
    marker = f"mk-{tenant}-{n}"
    for _ in range(20):  # the generator picks its own tenant: draw until it is ours
        record = getattr(generator, source)()
        if record.get("tenant") == tenant or record.get("writeKey", "").startswith(f"wk_{tenant}"):
            break
    else:
        raise AssertionError(f"the generator gave no {source} record of {tenant}")
    text = json.dumps(record)
    text = re.sub(r'"u(\d+)', rf'"{marker}-u\1', text)  # customer ids and ids built from them
    text = re.sub(r'"anon-u', f'"anon-{marker}-u', text)
    text = re.sub(r'"d-u', f'"d-{marker}-u', text)
    record = json.loads(text)
    record["message_id" if source != "partner" else "messageId"] = f"{marker}-msg"
    return record


def _paths(value, prefix=()):
    """Every path (tuple of keys / indexes) inside a JSON value."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _set(doc, path, value):
    for step in path[:-1]:
        doc = doc[step]
    doc[path[-1]] = value


def _delete(doc, path):
    for step in path[:-1]:
        doc = doc[step]
    del doc[path[-1]]


@st.composite
def payloads(draw, source: str, arrival_ms: int) -> Payload:
    tenant = draw(st.sampled_from(TENANTS))
    n = draw(st.integers(0, 10**9))
    marker = f"mk-{tenant}-{n}"
    doc = _base(source, tenant, n, arrival_ms)
    roll = draw(st.integers(0, sum(MUTATIONS.values()) - 1))
    for mutation, weight in MUTATIONS.items():  # noqa: B007 - the loop picks `mutation`
        if roll < weight:
            break
        roll -= weight
    paths = [p for p in _paths(doc) if p]
    raw: bytes
    if mutation == "valid":
        raw = json.dumps(doc).encode()
    elif mutation == "truncated":
        full = json.dumps(doc).encode()
        raw = full[: draw(st.integers(0, len(full) - 1))]
    elif mutation == "invalid_utf8":
        full = json.dumps(doc).encode()
        at = draw(st.integers(0, len(full)))
        raw = (
            full[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]))
            + full[at:]
        )
    elif mutation == "wrong_type":
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from([p for p in _paths(doc) if p]))
            _set(doc, path, draw(json_values))
        raw = json.dumps(doc).encode()
    elif mutation == "deep_nesting":
        depth = draw(st.integers(20, 100_000))  # at most ~600 KB: under the broker's 1 MB message limit
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        field = draw(st.sampled_from(["properties", "attributes", "traits", "x"]))
        text = json.dumps(doc)
        raw = (text[:-1] + f', "{field}": ' + opener * depth + "1" + closer * depth + "}").encode()
    elif mutation == "long_string":
        path = draw(st.sampled_from(paths))
        _set(doc, path, f"{marker}-" + "x" * draw(st.integers(1_000, 60_000)))
        raw = json.dumps(doc).encode()
    elif mutation == "oversized":
        doc["padding"] = f"{marker}-" + "y" * draw(st.integers(MAX_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES + 40_000))
        raw = json.dumps(doc).encode()
    elif mutation == "nan":
        path = draw(st.sampled_from(paths))
        _set(doc, path, draw(st.sampled_from([float("nan"), float("inf"), float("-inf")])))
        raw = json.dumps(doc, allow_nan=True).encode()
    elif mutation == "duplicate_key":
        key = draw(st.sampled_from(sorted(doc)))
        text = json.dumps(doc)
        raw = (text[:-1] + f", {json.dumps(key)}: {json.dumps(draw(json_values))}" + "}").encode()
    elif mutation == "missing_field":
        for _ in range(draw(st.integers(1, 3))):
            remaining = [p for p in _paths(doc) if p]
            if remaining:
                _delete(doc, draw(st.sampled_from(remaining)))
        raw = json.dumps(doc).encode()
    elif mutation == "extra_fields":
        for _ in range(draw(st.integers(1, 5))):
            doc[draw(st.text(min_size=1, max_size=20))] = draw(json_values)
        raw = json.dumps(doc).encode()
    elif mutation == "control_chars":
        path = draw(st.sampled_from(paths))
        junk = "".join(
            draw(
                st.lists(
                    st.sampled_from(["\x00", "\x1b", "\u202e", "\ufeff", "\ud83d", "\U0001f600", "\n", '"', "\\"]),
                    min_size=1,
                    max_size=8,
                )
            )
        )
        _set(doc, path, f"{marker}{junk}")
        raw = json.dumps(doc, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    elif mutation == "spoofed":  # aimed at another tenant without its key: refused, whatever it claims
        other = next(t for t in TENANTS if t != tenant)
        key_field = "writeKey" if source == "partner" else "write_key"
        variant = draw(st.sampled_from(["claims_other", "stolen_key", "forged_key", "no_key"]))
        doc["tenant"] = tenant if variant == "stolen_key" else other
        if variant == "stolen_key":  # another tenant's key, claiming to be its own tenant
            doc[key_field] = WRITE_KEYS[other]
        elif variant == "forged_key":
            doc[key_field] = "wk_forged_" + draw(st.text(max_size=20))
        elif variant == "no_key":
            doc.pop(key_field, None)
        raw = json.dumps(doc).encode()
    else:  # not JSON at all (still carries no marker of another tenant)
        raw = draw(
            st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")))
        )
        raw = re.sub(rb"mk-(acme|globex)-\d+", b"", raw)
    return Payload(source, tenant, marker, mutation, raw)


def foreign_markers(value, tenant: str) -> set[str]:
    """The other tenants whose markers appear anywhere inside `value` (a document, a record)."""
    found = set(MARKER.findall(json.dumps(value, default=str)))
    return {t for t in found if t != tenant}
