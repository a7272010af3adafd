"""audience-computation's operator: per-bucket batches of enriched events, identity profiles, handovers
and (copied to every bucket) audience definitions. It holds each user's state and its bucket's
definitions, keeps the users that wait for a change point, and calls the rules (memberships.py).

Keyed state of a bucket (tests/unit/test_state_layouts.py pins it):
- `users`: `tenant NUL user` -> memberships.User.pack();
- `definitions`: definitions.BucketDefinitions.pack();
- `timers`: an hour of event time -> the `tenant NUL user` names whose next change point falls in it,
  and `timer_hours`, the sorted hours that have any.

- `clock`: per partition of hw.events.enriched, the newest event time the bucket has read from it.

A bucket's event-time clock is the oldest of those, less HEADWATER_AUDIENCE_LATENESS_MS (0 until every
partition has brought it an event): a watermark, kept per bucket because records of one bucket keep the
order of each partition through the batcher, which records of several buckets do not. A user's events
all come from one partition, so an event within the lateness of its partition's newest never finds the
clock past it. A bucket with users waiting looks every HEADWATER_AUDIENCE_TIMER_CHECK_MS (a
processing-time timer) for those whose change point the clock has passed. When the clock gets there
changes nothing in what is sent: a user goes through its change points in order whichever comes first,
the clock or its own next event (memberships.advance).
"""

from __future__ import annotations

import bisect
import itertools

from pyflink.common import Types
from pyflink.datastream.functions import KeyedProcessFunction
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from common.contracts.rejections import Reason, Rejection
from common.flink.batches import record_time
from common.flink.buckets import unmark
from common.flink.environment import subtask_index
from common.flink.map_state_cache import CachedMapState
from common.flink.progress import ProgressThrottle
from common.flink.shipped_code import ShippedFunction
from common.log import configure_job as configure_logging
from common.log import get_logger
from common.serde import frames
from common.serde.avro import AvroCodec, SerdeError
from common.serde.frames import framed
from jobs.audience_computation import memberships
from jobs.audience_computation.definitions import NONE, BucketDefinitions, TenantAudiences, digest, parse_tenant
from jobs.audience_computation.memberships import User
from jobs.audience_computation.records import Encoders, handover_from_record, unstamp
from jobs.audience_computation.report import FIELDS, NAME, format_report
from jobs.audience_computation.settings import AudienceSettings

log = get_logger(__name__)

# State names are part of every savepoint: renaming one loses what it held (tests/unit/test_state_layouts.py).
USERS_STATE = MapStateDescriptor("users", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
DEFINITIONS_STATE = ValueStateDescriptor("definitions", Types.PICKLED_BYTE_ARRAY())
TIMERS_STATE = MapStateDescriptor("timers", Types.LONG(), Types.PICKLED_BYTE_ARRAY())
TIMER_HOURS_STATE = ValueStateDescriptor("timer_hours", Types.PICKLED_BYTE_ARRAY())
CLOCK_STATE = ValueStateDescriptor("clock", Types.PICKLED_BYTE_ARRAY())
HOUR_MS = 3600 * 1000
REPORT_EVERY_S = 2.0


def user_key(tenant: str, user_id: str) -> str:
    return f"{tenant}\0{user_id}"


class AudienceMemberships(ShippedFunction, KeyedProcessFunction):
    def __init__(self, options: AudienceSettings, snapshot: list[tuple[dict, str]], partitions: int):
        self.options = options
        self.snapshot = snapshot  # the definitions on hw.audiences.config at submit time: (record, digest)
        self.partitions = partitions  # of hw.events.enriched: the clock waits for each

    def open(self, runtime_context):
        configure_logging()
        self.encoders = Encoders(AvroCodec())
        self.users = CachedMapState(runtime_context.get_map_state(USERS_STATE), self.options.user_cache)
        self.users_state = runtime_context.get_map_state(USERS_STATE)
        self.definitions_state = runtime_context.get_state(DEFINITIONS_STATE)
        self.timers = runtime_context.get_map_state(TIMERS_STATE)
        self.timer_hours = runtime_context.get_state(TIMER_HOURS_STATE)
        self.definitions: dict[str, BucketDefinitions] = {}  # bucket -> its definitions (as its state holds)
        self.parsed: dict[tuple[str, str], TenantAudiences] = {}  # (bucket, tenant) -> audiences
        self.clock_state = runtime_context.get_state(CLOCK_STATE)
        self.subtask = subtask_index(runtime_context)
        metrics = runtime_context.get_metrics_group()
        self.totals = dict.fromkeys(FIELDS, 0)
        self.flushed = dict(self.totals)
        self.counters = {name: metrics.counter(name) for name in FIELDS}
        self.progress = ProgressThrottle(self.totals, REPORT_EVERY_S)

    # -- batches and timers -----------------------------------------------------------------------

    def process_element(self, value, ctx):
        """`value`: a batch of one bucket's records in arrival order (TenantBatches.java)."""
        bucket = ctx.get_current_key()
        self._begin(bucket)
        records = (
            out for _o, key, raw in frames.unpack(bytes(value)) for out in self._on_record(raw, record_time(key, None))
        )
        yield from framed(itertools.chain(records, self._fire_due()), self.options.frame_records)
        self._end(ctx)

    def on_timer(self, timestamp, ctx):
        self._begin(ctx.get_current_key())
        yield from framed(self._fire_due(), self.options.frame_records)
        self._end(ctx)

    def _begin(self, bucket: str) -> None:
        self.bucket = bucket
        self.users.begin(bucket)
        self.definitions_dirty = False
        if bucket not in self.definitions:
            packed = self.definitions_state.value()
            self.definitions[bucket] = BucketDefinitions.unpack(packed) or BucketDefinitions.from_snapshot(
                self.snapshot
            )
            self.definitions_dirty = packed is None
        self.hours: list[int] | None = None  # read on first use
        self.hours_dirty = False
        self.newest: dict[int, int] = dict(self.clock_state.value() or {})  # partition -> newest event time
        self.newest_dirty = False

    def _end(self, ctx) -> None:
        self.users.flush()
        if self.definitions_dirty:  # a JVM call: only when a definition record came (or a fresh bucket)
            self.definitions_state.update(self.definitions[self.bucket].pack())
        if self.hours_dirty:
            self.timer_hours.update(self.hours)
        if self.newest_dirty:
            self.clock_state.update(self.newest)
        hours = self._hours()
        timers = ctx.timer_service()
        if hours:
            step = self.options.timer_check_ms
            timers.register_processing_time_timer((timers.current_processing_time() // step + 1) * step)
        for name, n in self.totals.items():
            if n != self.flushed[name]:
                self.counters[name].inc(n - self.flushed[name])
        self.flushed = dict(self.totals)
        if self.progress.due(self.totals, ctx):
            log.info(format_report(self.subtask, self.totals))

    # -- one record -------------------------------------------------------------------------------

    @property
    def clock_ms(self) -> int:
        """The bucket's event-time clock (module docstring)."""
        if len(self.newest) < self.partitions:
            return 0
        return min(self.newest.values()) - self.options.lateness_ms

    def _on_record(self, original: bytes, stamp: int | None):
        raw, copy = unmark(original, self.options.buckets)
        raw, partition = unstamp(raw)
        try:
            schema, record = self.encoders.decode(raw)
        except SerdeError as exc:
            self.totals["rejected"] += 1
            yield self._reject(str(exc), original, None, "events.enriched")
            return
        if copy is not None and schema == "audience_definition":
            yield from self._on_definition(record, digest(raw), copy)
        elif schema == "enriched_event":
            self.totals["events"] += 1
            yield from self._on_event(record, stamp, partition)
        elif schema == "identity_profile":
            self.totals["profiles"] += 1
            yield from self._on_profile(record, stamp)
        elif schema == "audience_handover":
            self.totals["handovers_in"] += 1
            yield from self._on_handover(record, stamp)
        else:
            self.totals["rejected"] += 1
            yield self._reject(f"a {schema} record on an input of {NAME}", raw, record, "events.enriched")

    def _reject(self, why: str, raw: bytes, record: dict | None, source: str):
        return self.encoders.rejection(Rejection(Reason.INVALID_RECORD, why), raw, record, source)

    def _audiences(self, tenant: str) -> TenantAudiences:
        parsed = self.parsed.get((self.bucket, tenant))
        if parsed is None:
            conditions = self.definitions[self.bucket].conditions.get(tenant)
            parsed = NONE if not conditions else parse_tenant(tenant, conditions)[0]
            self.parsed[(self.bucket, tenant)] = parsed
        return parsed

    def _user(self, tenant: str, user_id: str) -> User:
        return User.unpack(self.users.get(user_key(tenant, user_id))) or User()

    def _save(self, tenant: str, user_id: str, user: User, audiences: TenantAudiences) -> None:
        """Store the user, and move it to the hour of its next change point."""
        due = None if user.deleted or user.merged_into else memberships.next_due(user, audiences)
        if due != user.due_ms:
            name = user_key(tenant, user_id)
            if user.due_ms is not None:
                self._untime(user.due_ms // HOUR_MS, name)
            if due is not None:
                self._time(due // HOUR_MS, name)
            user.due_ms = due
        self.users.put(user_key(tenant, user_id), user.pack())

    def _messages(self, tenant: str, user_id: str, changes, stamp: int | None):
        for change in changes:
            self.totals["messages"] += 1
            self.totals["entered" if change.entered else "exited"] += change.trigger.value == "value_changed"
            yield (*self.encoders.message(tenant, user_id, change), stamp)

    def _on_event(self, record: dict, stamp: int | None, partition: int | None):
        tenant, user_id, time_ms = record["tenant"], record["user_id"], record["time_ms"]
        partition = partition or 0
        if time_ms > self.newest.get(partition, -(2**63)):
            self.newest[partition] = time_ms
            self.newest_dirty = True
        user = self._user(tenant, user_id)
        if user.deleted:
            self.totals["dropped_deleted"] += 1
            return
        if user.merged_into:  # an event of a user merged away that came after its merge
            handover = memberships.hand_on(user, user_id, record["name"], time_ms)
            self._save(tenant, user_id, user, NONE)
            self.totals["handovers_out"] += 1
            yield (*self.encoders.handover(tenant, user.merged_into, handover), stamp)
            return
        audiences = self._audiences(tenant)
        changes = memberships.on_event(user, audiences, record["name"], time_ms, dict(record["user_attributes"]))
        self._save(tenant, user_id, user, audiences)
        yield from self._messages(tenant, user_id, changes, stamp)

    def _on_profile(self, record: dict, stamp: int | None):
        tenant, user_id = record["tenant"], record["user_id"]
        user = self._user(tenant, user_id)
        if user.deleted or user.merged_into:
            return  # what a deleted or merged-away user's profile says later changes nothing here
        audiences = self._audiences(tenant)
        if record.get("deleted"):
            changes = memberships.on_delete(user)
        elif record.get("merged_into"):
            handover = memberships.hand_over(user, user_id, record["merged_into"])
            self.totals["handovers_out"] += 1
            yield (*self.encoders.handover(tenant, record["merged_into"], handover), stamp)
            changes = []
        else:
            ids = [(i["type"], i["value"], i["first_seen_ms"]) for i in record["external_ids"]]
            changes = memberships.on_identity(user, ids)
        self._save(tenant, user_id, user, audiences)
        yield from self._messages(tenant, user_id, changes, stamp)

    def _on_handover(self, record: dict, stamp: int | None):
        tenant, user_id = record["tenant"], record["user_id"]
        user = self._user(tenant, user_id)
        if user.deleted:
            self.totals["dropped_deleted"] += 1
            return
        if user.merged_into:  # merged on since: the handover follows it
            self.totals["handovers_out"] += 1
            yield (*self.encoders.handover(tenant, user.merged_into, handover_from_record(record)), stamp)
            return
        handover = handover_from_record(record)
        audiences = self._audiences(tenant)
        if not memberships.take(user, handover):
            self.totals["handovers_again"] += 1
            return
        if handover.merge:
            changes = memberships.on_merge(user, user_id, audiences, handover)
        else:
            changes = memberships.on_events(user, audiences, handover.events)
        self._save(tenant, user_id, user, audiences)
        yield from self._messages(tenant, user_id, changes, stamp)

    # -- definitions ------------------------------------------------------------------------------

    def _on_definition(self, record: dict, value_digest: str, copy: int):
        self.totals["definitions"] += copy == 0  # one count per definition, not per bucket
        tenant = record["tenant"]
        definitions = self.definitions[self.bucket]
        self.definitions_dirty = True  # a snapshot's pending key may have cleared even when nothing changes
        if not definitions.on_record(record, value_digest):
            return
        audiences, refused = parse_tenant(tenant, definitions.conditions.get(tenant, {}))
        if record["audience_id"] in refused and copy == 0:
            self.totals["rejected"] += 1
            why = f"audience {record['audience_id']} refused: {refused[record['audience_id']]}"
            log.warning(f"{NAME}: {why}")
            yield self._reject(why, b"", record, "audiences.config")
        self.parsed[(self.bucket, tenant)] = audiences
        yield from self._judge_all(tenant, audiences, (record["audience_id"],))

    def _judge_all(self, tenant: str, audiences: TenantAudiences, audience_ids):
        """A definition changed: every user of the tenant this bucket holds is judged by it now."""
        self.users.flush()  # the state then holds every write, and the cache agrees with it
        prefix = tenant + "\0"
        names = [name for name in self.users_state.keys() if name.startswith(prefix)]
        for name in names:
            user = User.unpack(self.users.get(name))
            if user is None or user.deleted or user.merged_into:
                continue
            user_id = name[len(prefix) :]
            changes = memberships.on_definitions(user, audiences, audience_ids)
            # and through the change points the job's clock has passed: at once, not whenever a timer
            # next looks, so what follows a definition change does not depend on how records were batched
            changes += memberships.on_timer(user, audiences, self.clock_ms)
            self._save(tenant, user_id, user, audiences)
            yield from self._messages(tenant, user_id, changes, None)

    # -- the users waiting for a change point -----------------------------------------------------

    def _hours(self) -> list[int]:
        if self.hours is None:
            self.hours = list(self.timer_hours.value() or [])
        return self.hours

    def _time(self, hour: int, name: str) -> None:
        names = self.timers.get(hour) or ()
        if not names:
            bisect.insort(self._hours(), hour)
            self.hours_dirty = True
        self.timers.put(hour, tuple(sorted({*names, name})))  # plain values in state: no set

    def _untime(self, hour: int, name: str) -> None:
        names = tuple(n for n in self.timers.get(hour) or () if n != name)
        if names:
            self.timers.put(hour, names)
        else:
            self.timers.remove(hour)
            hours = self._hours()
            at = bisect.bisect_left(hours, hour)
            if at < len(hours) and hours[at] == hour:
                del hours[at]
                self.hours_dirty = True

    def _fire_due(self):
        """The users whose change point the clock has passed go through it."""
        hours = self._hours()
        while hours and hours[0] <= self.clock_ms // HOUR_MS:
            hour = hours[0]
            for name in self.timers.get(hour) or ():
                tenant, user_id = name.split("\0", 1)
                user = self._user(tenant, user_id)
                if user.due_ms is None or user.due_ms > self.clock_ms:
                    continue
                audiences = self._audiences(tenant)
                self.totals["timers_fired"] += 1
                changes = memberships.on_timer(user, audiences, self.clock_ms)
                self._save(tenant, user_id, user, audiences)
                yield from self._messages(tenant, user_id, changes, None)
            if hours and hours[0] == hour:
                break  # those left in this hour are due later in it (advance passed every point up to the clock)
