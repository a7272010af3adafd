"""Turn the failures a user can fix into one line; anything else is a bug and keeps its traceback."""

from __future__ import annotations


def explain(exc: BaseException) -> str | None:
    from cli.dedupe_config import DedupeConfigError
    from cli.produce import ProduceError
    from common.kafka.snapshot import SnapshotError
    from common.csv_import.mapping import MappingError
    from common.config import ConfigError
    from common.flink.cluster import ClusterError
    from common.flink.savepoints import SavepointError
    from common.flink.settings import FlinkSetupError
    from common.serde.avro import SerdeError
    from infra.stack.process import StackError
    from jobs.registry import UnknownJob

    if isinstance(exc, (ConfigError, StackError, FlinkSetupError, ProduceError, SerdeError, UnknownJob, MappingError,
                        SavepointError, DedupeConfigError, SnapshotError, ClusterError)):
        return str(exc)
    try:
        from confluent_kafka import KafkaException

        if isinstance(exc, KafkaException):
            return f"Kafka: {exc.args[0] if exc.args else exc}; is the stack up (`headwater status`)?"
    except ImportError:
        pass
    return None
