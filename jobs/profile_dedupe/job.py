"""profile-dedupe: computation messages -> dedupe decisions -> one outbound event per ID group.

Wiring only (operator: operators.py; rules: decide.py, process.py, engine.py; waiting: parking.py;
levers: rollout.py, comparator.py):
  KafkaSource(hw.compute.output + hw.identity.profiles) -> per-tenant batches (Java) ─┐
  KafkaSource(hw.destinations.config + hw.dedupe.rollout) -> broadcast ───────────────┴> DedupeMessages
  -> frames -> one exactly-once sink: hw.delivery.outbound, hw.dedupe.mismatches, hw.rejected

Records reach the Python operator in batches of one tenant's records (up to
HEADWATER_DEDUPE_BATCH_RECORDS, or HEADWATER_DEDUPE_BATCH_DELAY_MS after the first): a Python operator
pays a fixed cost per element, so one element per batch instead of per message (common/flink/batches.py).
Profile state is read through a bounded cache (HEADWATER_DEDUPE_PROFILE_CACHE entries per subtask) and
written once per batch (common/flink/map_state_cache.py): a MapState call crosses into the JVM.

Keyed by tenant: a merge reads the state of the profiles it merges, which are all the tenant's.
A message waits while a profile it reads is not known yet, or while the config that existed at submit
time is not yet in the broadcast state (parking.py).
"""

from __future__ import annotations

from pyflink.common import WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment

from common.config import Settings
from common.flink.batches import Timestamps, tenant_batches
from common.flink.kafka import client_name, frame_type, framed_exactly_once_sink, kafka_source
from common.kafka.snapshot import read_to_end
from common.serde.avro import AvroCodec
from common.topics import topic
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
    inputs = [topic(settings.topic_prefix, "compute.output"), topic(settings.topic_prefix, "identity.profiles")]
    records = env.from_source(
        kafka_source(settings, inputs, group_id=client_name(settings, NAME), raw_bytes=True),
        WatermarkStrategy.no_watermarks(),
        "compute.output + identity.profiles",
    ).uid(f"{NAME}-source")
    decided = (
        tenant_batches(
            records, options.batch_records, options.batch_delay_ms, uid=f"{NAME}-batches", timestamps=Timestamps.BESIDE
        )
        .connect(config)
        .process(DedupeMessages(settings, options, expected), output_type=frame_type())
        .uid(f"{NAME}-decide")
        .name("dedupe decisions and ID groups")
    )
    framed_exactly_once_sink(
        decided,
        settings,
        [topic(settings.topic_prefix, suffix) for suffix in OUTPUTS],
        transactional_id_prefix=client_name(settings, NAME),
        uid=f"{NAME}-sink",
    )
