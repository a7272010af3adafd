"""The records that cross between Headwater's jobs (and between the CLI and a job), in Python.

One module per record, beside the Avro schema it mirrors in `schemas/`: the model, the record <->
model conversions in both directions, and the Kafka key. Jobs encode and decode through these, so the
writer of a topic and its readers cannot drift apart; no job imports another (docs/architecture.md).
"""
