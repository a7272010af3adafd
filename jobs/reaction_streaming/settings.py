"""reaction-streaming's settings: when pending deltas are flushed, how documents are sharded, and how
MongoDB is written to. Each field is read from its environment variable (common/variables.py)."""

from __future__ import annotations

from dataclasses import dataclass

from common.variables import PositiveInt, declare, read_settings, setting

SECTION = "reaction-streaming"
MAX_DELTAS = declare(
    "HEADWATER_REACTION_MAX_DELTAS",
    4096,
    "reaction-streaming flushes a shard at this many deltas",
    kind=PositiveInt,
    section=SECTION,
)
MAX_DELAY_MS = declare(
    "HEADWATER_REACTION_MAX_DELAY_MS",
    1000,
    "reaction-streaming flushes a shard this long after its first pending delta",
    kind=PositiveInt,
    section=SECTION,
)
SHARDS = declare(
    "HEADWATER_REACTION_SHARDS",
    8,
    "shards the documents are spread over, evenly over the subtasks at any parallelism up to this count; "
    "fixed for the life of a deployment: a savepoint restores only with the count it was taken with",
    kind=PositiveInt,
    section=SECTION,
)
STATEMENTS_PER_COMMAND = declare(
    "HEADWATER_MONGO_STATEMENTS_PER_COMMAND",
    16,
    "statements per MongoDB write command (two per write); real MongoDB takes hundreds; FerretDB holds a "
    "connection per statement: see HEADWATER_MONGO_COMMANDS_IN_FLIGHT",
    kind=PositiveInt,
    section=SECTION,
)
COMMANDS_IN_FLIGHT = declare(
    "HEADWATER_MONGO_COMMANDS_IN_FLIGHT",
    4,
    "bulk write commands a reaction-streaming subtask keeps in flight at once (never two writes of one "
    "document); with FerretDB, subtasks x this x statements per command must stay below its connection "
    "pool (320 locally) or writes stall",
    kind=PositiveInt,
    section=SECTION,
)
RETRY_WINDOW_MS = declare(
    "HEADWATER_MONGO_RETRY_WINDOW_MS",
    10_000,
    "how long a flush retries a MongoDB that does not answer before its deltas go back to Flink state "
    "for a try that much later (checkpoints go on through an outage)",
    kind=PositiveInt,
    section=SECTION,
)
PARKED_MAX = declare(
    "HEADWATER_REACTION_PARKED_MAX",
    10_000,
    "later deltas one parked document holds (after a write of it was refused) until the refused ones are "
    "redriven; past this they are refused too, and the document waits for them as well",
    kind=PositiveInt,
    section=SECTION,
)
POOL_SIZE = declare(
    "HEADWATER_MONGO_POOL_SIZE",
    4,
    "MongoDB connections per reaction-streaming subtask (at least the commands in flight)",
    kind=PositiveInt,
    section=SECTION,
)
CONNECT_TIMEOUT_MS = declare(
    "HEADWATER_MONGO_CONNECT_TIMEOUT_MS",
    5000,
    "MongoDB server selection and connect timeout (a write retries after it)",
    kind=PositiveInt,
    section=SECTION,
)
SOCKET_TIMEOUT_MS = declare(
    "HEADWATER_MONGO_SOCKET_TIMEOUT_MS",
    60000,
    "how long one MongoDB command may take before it is retried",
    kind=PositiveInt,
    section=SECTION,
)


@dataclass(frozen=True)
class ReactionSettings:
    max_deltas: int = setting(MAX_DELTAS)
    max_delay_ms: int = setting(MAX_DELAY_MS)
    shards: int = setting(SHARDS)
    statements_per_command: int = setting(STATEMENTS_PER_COMMAND)
    commands_in_flight: int = setting(COMMANDS_IN_FLIGHT)
    retry_window_ms: int = setting(RETRY_WINDOW_MS)
    parked_max: int = setting(PARKED_MAX)
    pool_size: int = setting(POOL_SIZE)
    connect_timeout_ms: int = setting(CONNECT_TIMEOUT_MS)
    socket_timeout_ms: int = setting(SOCKET_TIMEOUT_MS)

    @staticmethod
    def from_env(env=None) -> ReactionSettings:
        return read_settings(ReactionSettings, env)
