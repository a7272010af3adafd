import json

import pytest

from common.contracts.tenants import parse_registry

ARRIVAL = 1_793_534_410_000  # 2026-11-01T10:00:10Z
NOW_ISO = "2026-11-01T10:00:00Z"


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
                "acme": {"write_keys": ["wk_acme"], "default_phone_region": "US"},
                "strict": {"type_conflict_policy": "reject"},
            },
        }
    )


def raw(doc) -> bytes:
    return json.dumps(doc).encode()
