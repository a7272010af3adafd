"""What `headwater up` creates once the services answer: the topics and the checkpoint bucket."""

from __future__ import annotations

from common.config import Settings
from common.kafka.admin import ensure_topics


def s3_client(settings: Settings):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}, connect_timeout=2, read_timeout=10),
    )


def list_objects(settings: Settings, bucket: str, prefix: str):
    """Every object under `prefix` (boto3's paginator follows the continuation tokens)."""
    pages = s3_client(settings).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        yield from page.get("Contents", [])


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
