"""profile-dedupe: computation messages -> dedupe decisions -> one outbound event per ID group.

Wiring only (operator: operators.py; rules: decide.py, process.py, engine.py, merges.py; waiting:
parking.py; levers: rollout.py, comparator.py):
  KafkaSource(hw.compute.output + hw.identity.profiles + hw.dedupe.handovers)
    -> merges copied to every bucket they read -> per-bucket batches (Java) ─┐
  KafkaSource(hw.destinations.config + hw.dedupe.rollout) -> broadcast ──────┴> DedupeMessages
  -> frames -> one exactly-once sink: hw.delivery.outbound, hw.dedupe.mismatches, hw.rejected,
     hw.dedupe.handovers (read back by the first source)

Keyed by a bucket of (tenant, profile) (buckets.py, HEADWATER_DEDUPE_BUCKETS), so one tenant spreads
over every subtask. A merge reads the state of the profiles it merges, which may sit in other buckets:
they hand it over through hw.dedupe.handovers (merges.py).

Records reach the Python operator in batches of one bucket's records (up to
HEADWATER_DEDUPE_BATCH_RECORDS, or HEADWATER_DEDUPE_BATCH_DELAY_MS after the first): a Python operator
pays a fixed cost per element, so one element per batch instead of per message (common/flink/batches.py).
Profile state is read through a bounded cache (HEADWATER_DEDUPE_PROFILE_CACHE entries per subtask) and
written once per batch (common/flink/map_state_cache.py): a MapState call crosses into the JVM.

A message waits while a profile it reads is not known yet, while a handover it needs has not come, or
while the config that existed at submit time is not yet in the broadcast state (parking.py).
"""

from __future__ import annotations

from pyflink.common import WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment

from common.config import Settings
from common.flink.kafka import client_name, frame_type, framed_exactly_once_sink, kafka_source
from common.flink.settings import static_settings
from common.kafka.snapshot import read_to_end
from common.serde.avro import AvroCodec
from common.topics import topic
from jobs.profile_dedupe.buckets import decide_uid, route_by_profile
from jobs.profile_dedupe.config import expected_config
from jobs.profile_dedupe.operators import CONFIG_STATE, NAME, DedupeMessages
from jobs.profile_dedupe.records import OUTPUTS
from jobs.profile_dedupe.settings import DedupeSettings

__all__ = ["NAME", "OUTPUTS", "build"]


def build(env: StreamExecutionEnvironment, settings: Settings) -> None:
    options = DedupeSettings.from_env()
    codec = AvroCodec()
    config_topics = [
        topic(settings.topic_prefix, "destinations.config"),
        topic(settings.topic_prefix, "dedupe.rollout"),
    ]
    expected = expected_config(read_to_end(settings, config_topics), codec)
    config = (
        env.from_source(
            kafka_source(
                settings, config_topics, client_name(settings, NAME, "config"), raw_bytes=True, compacted=True
            ),
            WatermarkStrategy.no_watermarks(),
            "destinations.config + dedupe.rollout",
        )
        .uid(f"{NAME}-config-source")
        .broadcast(CONFIG_STATE)
    )
    inputs = [
        topic(settings.topic_prefix, suffix) for suffix in ("compute.output", "identity.profiles", "dedupe.handovers")
    ]
    # a uid of its own: offsets of the tenant-keyed job (0.2, `-source`) never restore under buckets
    records = env.from_source(
        kafka_source(settings, inputs, group_id=client_name(settings, NAME), raw_bytes=True),
        WatermarkStrategy.no_watermarks(),
        "compute.output + identity.profiles + dedupe.handovers",
    ).uid(f"{NAME}-bucketed-source")
    max_parallelism = int(static_settings()["pipeline.max-parallelism"])
    batches = route_by_profile(
        records, codec, options.buckets, max_parallelism, options.batch_records, options.batch_delay_ms, NAME
    )
    decided = (
        batches.connect(config)
        .process(DedupeMessages(settings, options, expected), output_type=frame_type())
        .uid(decide_uid(NAME, options.buckets))
        .name("dedupe decisions and ID groups")
    )
    framed_exactly_once_sink(
        decided,
        settings,
        [topic(settings.topic_prefix, suffix) for suffix in OUTPUTS],
        transactional_id_prefix=client_name(settings, NAME),
        uid=f"{NAME}-sink",
    )
