"""`headwater audiences put|list|delete`: the audience definitions of each tenant (issue 20).

They are Avro `audience_definition` records on the compacted topic `hw.audiences.config`, keyed
`<tenant>:<audience id>`, for audience-computation to read into broadcast state, so that a change
applies to a running job without a restart. A definition is checked before anything is written
(common/contracts/audiences.py): a bad one is refused in one line saying where and what to fix.
"""

from __future__ import annotations

from pathlib import Path

from cli.produce import write_one
from common.config import Settings
from common.contracts.audiences import Audience, AudienceError, audience_record, parse_audience
from common.kafka.snapshot import read_to_end
from common.serde.avro import AvroCodec, SerdeError
from common.topics import topic

TOPIC = "audiences.config"


def condition_text(condition: str) -> str:
    """The condition as given: JSON, or `@FILE` for a file that holds it."""
    if not condition.startswith("@"):
        return condition
    path = Path(condition[1:])
    try:
        return path.read_text()
    except OSError as exc:
        raise AudienceError(f"--condition {condition}: cannot read {path}: {exc.strerror}") from None


def put_audience(settings: Settings, tenant: str, audience_id: str, condition: str) -> Audience:
    text = condition_text(condition)
    audience = parse_audience(tenant, audience_id, text)  # refused before anything is written
    value = AvroCodec().encode("audience_definition", audience_record(tenant, audience_id, text))
    write_one(settings, topic(settings.topic_prefix, TOPIC), audience.key, value)
    return audience


def list_audiences(settings: Settings, tenant: str | None = None) -> list[tuple[str, str, str]]:
    """(tenant, audience id, condition JSON) of each current definition, by key."""
    codec, latest = AvroCodec(), {}
    for _topic, _key, value in read_to_end(settings, [topic(settings.topic_prefix, TOPIC)]):
        if value is None:
            continue
        try:
            record = codec.decode(value, "audience_definition")
        except SerdeError:
            continue  # not written by this CLI: the job refuses it when it reads it
        latest[(record["tenant"], record["audience_id"])] = record
    return [
        (r["tenant"], r["audience_id"], r["condition_json"])
        for key, r in sorted(latest.items())
        if not r["deleted"] and (tenant is None or r["tenant"] == tenant)
    ]


def delete_audience(settings: Settings, tenant: str, audience_id: str) -> None:
    """Writes a `deleted` record (kept by compaction as the key's latest value)."""
    if not any(a == audience_id for _t, a, _c in list_audiences(settings, tenant)):
        raise AudienceError(
            f"tenant {tenant!r} has no audience {audience_id!r} (`headwater audiences list` shows them)"
        )
    value = AvroCodec().encode("audience_definition", audience_record(tenant, audience_id, "{}", deleted=True))
    write_one(settings, topic(settings.topic_prefix, TOPIC), f"{tenant}:{audience_id}", value)
