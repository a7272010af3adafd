"""Create and check the pipeline's topics with the Kafka admin API (confluent-kafka)."""

from __future__ import annotations

import time

from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from common.config import Settings
from common.errors import HeadwaterError
from common.kafka.clients import client_config
from common.topics import TOPICS, TopicSpec

SET = AlterConfigOpType.SET


def admin_client(settings: Settings, quiet: bool = False) -> AdminClient:
    # librdkafka logs at info level by default; keep errors only. A probe expects refusals while the
    # broker starts, so it logs nothing.
    conf = client_config(settings, {"log_level": 0 if quiet else 3})
    return AdminClient(conf)


class TopicsMissing(HeadwaterError):
    """A job would read or write topics that do not exist: its sources fail and Flink restarts it for ever."""


def require_topics(settings: Settings) -> None:
    """Refuse to start a job while any of the deployment's topics is missing (with their names)."""
    listed = set(admin_client(settings).list_topics(timeout=10).topics)
    missing = [t for spec in TOPICS if (t := f"{settings.topic_prefix}{spec.suffix}") not in listed]
    if missing:
        raise TopicsMissing(
            f"{len(missing)} of the pipeline's topics do not exist on Kafka at {settings.kafka_bootstrap}: "
            f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}; create them (`headwater up` does, "
            f"for the local stack and HEADWATER_TOPIC_PREFIX; common/topics.py lists them)"
        )


def broker_count(settings: Settings, timeout: float = 5.0) -> int:
    """Number of brokers in the cluster metadata: a real request that fails if Kafka is not serving."""
    return len(admin_client(settings, quiet=True).list_topics(timeout=timeout).brokers)


def _config(spec: TopicSpec, settings: Settings) -> dict[str, str]:
    config = {"cleanup.policy": "compact"} if spec.compacted else {}
    if spec.expires:
        config["retention.ms"] = str(settings.retention_hours * 3_600_000)
    return config


def ensure_topics(settings: Settings, partitions: int, replication: int = 1) -> list[str]:
    """Create the missing topics of the pipeline; returns the names created. Existing ones are kept,
    with the retention of HEADWATER_RETENTION_HOURS set again on those that expire (so a changed
    setting takes effect at the next `headwater up`)."""
    admin = admin_client(settings)
    existing = set(admin.list_topics(timeout=10).topics)
    wanted, expiring = [], []
    for spec in TOPICS:
        name = f"{settings.topic_prefix}{spec.suffix}"
        if name not in existing:
            config = _config(spec, settings)
            wanted.append(NewTopic(name, num_partitions=partitions, replication_factor=replication, config=config))
        elif spec.expires:
            retention = ConfigEntry("retention.ms", _config(spec, settings)["retention.ms"], incremental_operation=SET)
            expiring.append(ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[retention]))
    if wanted:
        for future in admin.create_topics(wanted, request_timeout=30).values():
            future.result()
        _wait_until_served(admin, [t.topic for t in wanted], partitions)
    if expiring:
        for future in admin.incremental_alter_configs(expiring, request_timeout=30).values():
            future.result()
    return [t.topic for t in wanted]


def _wait_until_served(admin, names: list[str], partitions: int, timeout: float = 30.0) -> None:
    """Until the broker's metadata lists every new topic with a leader for each partition.

    create_topics returns when the controller has the topic; the broker may learn of it a moment
    later, and a consumer that subscribes in between fails with UNKNOWN_TOPIC_OR_PART."""
    deadline = time.monotonic() + timeout
    while True:
        listed = admin.list_topics(timeout=10).topics
        missing = [
            name
            for name in names
            if name not in listed
            or listed[name].error is not None
            or len(listed[name].partitions) < partitions
            or any(p.leader < 0 for p in listed[name].partitions.values())
        ]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"topics created but not served by the broker after {timeout:.0f} s: "
                f"{', '.join(sorted(missing))}; see the broker's log (`headwater status`)"
            )
        time.sleep(0.1)


def topic_configs(settings: Settings, names: list[str]) -> dict[str, dict[str, str]]:
    admin = admin_client(settings)
    futures = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, n) for n in names])
    return {res.name: {k: v.value for k, v in fut.result().items()} for res, fut in futures.items()}
