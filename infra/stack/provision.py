"""What `headwater up` creates once the services answer: the topics and the checkpoint bucket."""

from __future__ import annotations

from common.config import Settings
from common.kafka.admin import ensure_topics
from common.s3 import s3_client


def ensure_bucket(settings: Settings) -> bool:
    """Create the checkpoint bucket if missing; True if it was created."""
    bucket = settings.checkpoint_bucket
    if bucket is None:
        return False
    client = s3_client(settings)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket in existing:
        return False
    client.create_bucket(Bucket=bucket)
    return True


def provision(settings: Settings, partitions: int) -> dict[str, object]:
    return {
        "topics_created": ensure_topics(settings, partitions),
        "bucket_created": ensure_bucket(settings),
    }
