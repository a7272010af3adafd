"""The local stack: Kafka (KRaft), FerretDB over PostgreSQL, MinIO, on 127.0.0.1 with data under .data/."""
