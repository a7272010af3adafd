"""An S3 client for the object store that holds checkpoints and savepoints (MinIO locally).

Used to find retained checkpoints and to check that a savepoint exists before a restore, and by
`headwater up` to create the checkpoint bucket.
"""

from __future__ import annotations

from common.config import Settings


def s3_client(settings: Settings):
    """A client of the endpoint (MinIO locally), or of AWS S3 itself when there is none: then its
    region and, unless HEADWATER_S3_ACCESS_KEY is set, its credentials come from AWS's own chain."""
    import boto3
    from botocore.config import Config

    options = {}
    if settings.s3_endpoint:
        options.update(endpoint_url=settings.s3_endpoint, region_name="us-east-1")
    if settings.s3_access_key is not None:
        options.update(aws_access_key_id=settings.s3_access_key, aws_secret_access_key=settings.s3_secret_key)
    addressing = "path" if settings.s3_endpoint else "auto"
    config = Config(
        s3={"addressing_style": addressing}, retries={"max_attempts": 2}, connect_timeout=2, read_timeout=10
    )
    return boto3.client("s3", config=config, **options)


def list_objects(settings: Settings, bucket: str, prefix: str):
    """Every object under `prefix` (boto3's paginator follows the continuation tokens)."""
    pages = s3_client(settings).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        yield from page.get("Contents", [])
