import json

import pytest

from common.contracts.tenants import hash_write_key, parse_registry

ARRIVAL = 1_793_534_410_000  # 2026-11-01T10:00:10Z
NOW_ISO = "2026-11-01T10:00:00Z"
TEST_KEYS = {"acme": "wk_acme", "strict": "wk_strict"}


@pytest.fixture
def registry():
    return parse_registry(
        {
            "defaults": {
                "limits": {
                    "max_events_per_batch": 5,
                    "max_properties_per_event": 3,
                    "max_string_length": 20,
                    "max_distinct_event_names": 3,
                    "max_distinct_attributes": 3,
                    "max_payload_bytes": 2000,
                }
            },
            "tenants": {
                "acme": {"write_keys": [hash_write_key("wk_acme")], "default_phone_region": "US"},
                "strict": {"write_keys": [hash_write_key("wk_strict")], "type_conflict_policy": "reject"},
            },
        }
    )


def raw(doc, *, signed: bool = True) -> bytes:
    """JSON bytes of `doc`. A record naming a test tenant and no write key gets the tenant's key, so
    the rules' tests need not repeat it; `signed=False` sends the record exactly as given."""
    if signed and isinstance(doc, dict) and doc.get("tenant") in TEST_KEYS and not {"write_key", "writeKey"} & set(doc):
        doc = {**doc, "write_key": TEST_KEYS[doc["tenant"]]}
    return json.dumps(doc).encode()
