"""profile-dedupe's runtime config: destination instances and the rollout levers, read from two
compacted topics into Flink broadcast state, so a change applies without a restart.

A fresh job must not decide a message before it has read the config that already exists, or the
first messages would find no destinations (Flink gives no order between a broadcast input and the
keyed one). At submit time the job reads the config topics to their end (`expected_config`); each
subtask holds its messages back until its broadcast state holds every record of that snapshot
(`ConfigReadiness`), or `HEADWATER_DEDUPE_CONFIG_WAIT_MS` passes.
"""

from __future__ import annotations

import hashlib

from common.contracts.destinations import destination_from_record
from common.contracts.rollout import rollout_from_record

ROLLOUT_KEY = "rollout"


def config_key(schema: str, record: dict) -> str:
    if schema == "destination":
        return f"destination:{record['tenant']}:{record['destination_id']}"
    if schema == "dedupe_rollout":
        return ROLLOUT_KEY
    raise ValueError(f"a {schema} record is not config: the config topics carry destination and dedupe_rollout")


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


class ConfigReadiness:
    """Which records of the submit-time snapshot (key -> digest of its latest value) this subtask has
    not yet seen in its broadcast state."""

    def __init__(self, expected: dict[str, str]):
        self.missing = dict(expected)

    @property
    def ready(self) -> bool:
        return not self.missing

    def saw(self, key: str, value_digest: str) -> None:
        if self.missing.get(key) == value_digest:
            del self.missing[key]


def latest_config(records, codec) -> dict[str, tuple[str, dict, bytes]]:
    """Config key -> (schema, record, raw value) of its latest value, from (topic, key, value) records
    oldest first. Records that do not decode are left out: the job refuses them when it reads them."""
    latest: dict[str, tuple[str, dict, bytes]] = {}
    for _topic, _key, value in records:
        if value is None:
            continue
        try:
            schema = codec.writer_of(value).name
            record = codec.decode(value)
            latest[config_key(schema, record)] = (schema, record, value)
        except (ValueError, KeyError):
            continue
    return latest


def expected_config(records, codec) -> dict[str, str]:
    """The latest value's digest per config key (what ConfigReadiness waits for)."""
    return {key: digest(raw) for key, (_schema, _record, raw) in latest_config(records, codec).items()}


def apply_config(schema: str, record: dict, index, rollout):
    """Apply one config record to the destination index; return the (possibly new) rollout."""
    if schema == "dedupe_rollout":
        return rollout_from_record(record)
    destination = destination_from_record(record)
    if record.get("deleted"):
        index.delete(destination.key)
    else:
        index.put(destination)
    return rollout
