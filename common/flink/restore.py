"""Where a job starts when no savepoint is named: never with empty state over progress.

Every Kafka source of a job resumes from its consumer group's committed offsets when it has no state,
and those offsets are committed at every checkpoint. A job started empty after it ran would skip what
it already read and forget everything it learned from it: known customers created again under new ids,
destinations never seen again. So `headwater run|submit JOB` without `--from-savepoint` (the Flink
Kubernetes operator's "last-state" upgrade mode):

- restores the newest retained checkpoint or savepoint of JOB (common/flink/checkpoints.py);
- refuses to start when there is none but JOB's consumer groups have committed offsets (the checkpoints
  were deleted, or HEADWATER_CHECKPOINTS points elsewhere than before);
- starts empty only on a first start, or on an explicit `--reset`, which deletes JOB's consumer groups
  (their topics are read again from the beginning, or from `--reset-to TIME`) and marks the retained
  checkpoints as before the reset: they stay, for `--from-savepoint`, but are not resumed by default.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from common.config import Settings
from common.errors import HeadwaterError
from common.flink.checkpoints import mark_reset, restore_points
from common.flink.kafka import client_name
from common.flink.settings import checkpoint_dir


class NoRestorePoint(HeadwaterError):
    """A job's consumer groups have progress but nothing it could restore is retained."""


class ResetRefused(HeadwaterError):
    """`--reset` asked for something that cannot be done."""


class GroupsUnknown(HeadwaterError):
    """The broker did not list the consumer groups: a job must not start empty on a guess."""


def job_groups(settings: Settings, job: str) -> dict[str, int]:
    """`job`'s consumer groups on the broker, each with how many partitions of this deployment's topics
    (HEADWATER_TOPIC_PREFIX) it has committed offsets for. Only groups with some are returned."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    from common.kafka.admin import admin_client

    admin = admin_client(settings)
    own = client_name(settings, job)
    listed = admin.list_consumer_groups(request_timeout=15).result(timeout=20)
    if listed.errors:  # no groups listed is not "never read before"
        raise GroupsUnknown(
            f"could not list the consumer groups on Kafka at {settings.kafka_bootstrap} ({listed.errors[0]}), so "
            f"whether {job} has read before is unknown: fix the connection (`headwater status`) and start again"
        )
    groups = [g.group_id for g in listed.valid if g.group_id == own or g.group_id.startswith(own + "-")]
    progress = {}
    for group in groups:  # one group per request: what the admin API accepts
        future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=15)[group]
        committed = future.result(timeout=20).topic_partitions
        progress[group] = sum(1 for tp in committed if tp.offset >= 0 and tp.topic.startswith(settings.topic_prefix))
    return {group: partitions for group, partitions in progress.items() if partitions}


def choose_start(job: str, points: list[tuple[float, str]], progress: dict[str, int], where: str) -> str | None:
    """The location to restore `job` from (the newest of `points`), None for a first start; refuses
    empty state over committed offsets."""
    if points:
        return points[-1][1]
    if progress:
        groups = ", ".join(f"{group} ({n} partitions)" for group, n in sorted(progress.items()))
        raise NoRestorePoint(
            f"{job} has read before (committed offsets in consumer group {groups}) but no checkpoint or "
            f"savepoint of it is retained under {where}: starting it empty would skip what it read and "
            f"forget its state. Restore one with --from-savepoint PATH, or start empty on purpose with "
            f"--reset (re-reads its topics from the beginning, or from --reset-to TIME)"
        )
    return None


def reset(settings: Settings, job: str, start_from_ms: int | None, say: Callable[[str], None]) -> None:
    """Delete `job`'s consumer groups and hide its retained checkpoints from the default restore."""
    from common.kafka.admin import admin_client

    groups = sorted(job_groups(settings, job))
    if groups:
        admin = admin_client(settings)  # held: an admin client collected early never resolves its futures
        futures = admin.delete_consumer_groups(groups, request_timeout=15)
        for group, future in futures.items():
            try:
                future.result(timeout=20)
            except Exception as exc:  # noqa: BLE001 - KafkaException carrying the broker's reason
                raise ResetRefused(
                    f"could not delete consumer group {group} of {job} ({exc}): is a copy of {job} still "
                    f"running? stop it first"
                ) from None
    mark_reset(settings, job)
    since = "the beginning" if start_from_ms is None else datetime.fromtimestamp(start_from_ms / 1000, UTC).isoformat()
    say(
        f"--reset: {job} starts with empty state and reads its topics from {since}"
        + (f"; deleted its consumer groups {', '.join(groups)}" if groups else "")
        + f"; its earlier checkpoints stay under {checkpoint_dir(settings, job)} for --from-savepoint"
    )


def start_point(
    settings: Settings, job: str, *, reset_state: bool, start_from_ms: int | None, say: Callable[[str], None]
) -> str | None:
    """Where `headwater run|submit JOB` starts without --from-savepoint: a location to restore, or None
    for empty state (a first start, or `--reset`). Says which, in one line."""
    if reset_state:
        reset(settings, job, start_from_ms, say)
        return None
    where = checkpoint_dir(settings, job)
    chosen = choose_start(job, restore_points(settings, job), job_groups(settings, job), where)
    if chosen is None:
        say(f"{job}: first start (no checkpoint under {where}, no committed offsets): empty state")
    else:
        say(f"{job}: resuming from its newest checkpoint or savepoint, {chosen} (--reset starts empty instead)")
    return chosen
