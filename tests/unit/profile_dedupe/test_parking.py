"""Waiting messages: the pure rules (parking.py), then the operator on a fake runtime
(harness/flink_fake.py): a message for a profile not yet known waits, goes when the profile arrives or
after the profile wait, in arrival order, and a restart keeps the waiting messages."""

import time

from common import config
from common.contracts.compute import message_record
from common.contracts.destinations import Destination, destination_record
from common.flink.parking import ParkingLot
from common.serde import frames
from common.serde.avro import AvroCodec
from harness.flink_fake import ListState, OperatorDriver
from jobs.profile_dedupe.config import ConfigReadiness
from jobs.profile_dedupe.operators import DedupeMessages
from jobs.profile_dedupe.parking import ConfigWait, Verdict, verdict
from jobs.profile_dedupe.settings import DedupeSettings
from tests.unit.profile_dedupe.scenario import T, message

CODEC = AvroCodec()


def test_a_message_goes_when_config_and_profiles_are_there_or_after_the_profile_wait():
    assert verdict(False, True, 0, 100) is Verdict.WAIT  # the submit-time config comes first
    assert verdict(True, True, 0, 100) is Verdict.GO
    assert verdict(True, False, 99, 100) is Verdict.WAIT
    assert verdict(True, False, 100, 100) is Verdict.GO_TIMED_OUT


def test_the_config_is_waited_for_a_bounded_time_from_the_first_message_that_needs_it():
    now = [10.0]
    wait = ConfigWait(ConfigReadiness({"destination:acme:d": "abc"}), wait_ms=500, clock=lambda: now[0])
    assert not wait.ready()
    now[0] += 0.499
    assert not wait.ready() and not wait.gave_up
    now[0] += 0.001
    assert wait.ready() and wait.gave_up
    assert wait.readiness.ready  # the missing records are forgotten: nothing waits for them again


def test_parked_messages_leave_in_order_up_to_the_first_that_may_not_go():
    timers = []
    lot = ParkingLot(ListState(), retry_ms=200)
    for n, raw in enumerate((b"a", b"b", b"c")):
        lot.park("acme", raw, now_ms=1000 + n, schedule=timers.append)
    assert timers == [1200] and lot.size("acme") == 3  # only the first to wait asks for a timer
    released = list(lot.release("acme", 2000, lambda raw, waited: raw != b"b", timers.append))
    assert released == [b"a"]  # b may not go, and c waits behind it
    assert lot.size("acme") == 2 and lot.state.get() == [(b"b", 1001), (b"c", 1002)]
    assert timers == [1200, 2200]
    assert list(lot.release("acme", 2200, lambda raw, waited: True, timers.append)) == [b"b", b"c"]
    assert lot.size("acme") == 0 and timers == [1200, 2200]


def test_with_names_a_record_waits_only_behind_records_that_share_one():
    timers, names = [], {b"a1": {"a"}, b"b1": {"b"}, b"a2": {"a"}, b"ab": {"a", "b"}, b"c1": {"c"}}
    lot = ParkingLot(ListState(), retry_ms=200, names=lambda raw: frozenset(names[raw]))
    lot.park("acme", b"a1", now_ms=1000, schedule=timers.append)
    assert lot.waits_behind("acme", frozenset({"a"})) and not lot.waits_behind("acme", frozenset({"b"}))
    for raw in (b"b1", b"a2", b"ab", b"c1"):
        lot.park("acme", raw, now_ms=1001, schedule=timers.append)
    # a1 may not go yet: a2 and ab (which shares a) stay behind it; b1 and c1 go
    released = list(lot.release("acme", 2000, lambda raw, waited: raw != b"a1", timers.append))
    assert released == [b"b1", b"c1"] and lot.size("acme") == 3
    assert lot.waits_behind("acme", frozenset({"b"}))  # ab still waits, holding b too
    fresh = ParkingLot(lot.state, retry_ms=200, names=lot.names)  # a restore: recomputed from the state
    assert fresh.waits_behind("acme", frozenset({"b"})) and not fresh.waits_behind("acme", frozenset({"c"}))
    assert list(fresh.release("acme", 2200, lambda raw, waited: True, timers.append)) == [b"a1", b"a2", b"ab"]


def test_a_change_of_one_name_asks_only_the_records_it_can_free():
    """A profile's arrival (touched) asks may_go of the records that read it, and of those a record
    freed in the same call held back; a timer (touched None) asks all. 5,000 waiting messages and
    1,000 arriving profiles must not cost five million decisions."""
    names = {b"p1": {"p"}, b"pq": {"p", "q"}, b"q1": {"q"}, b"r1": {"r"}}
    lot = ParkingLot(ListState(), retry_ms=200, names=lambda raw: frozenset(names[raw]))
    for raw in (b"p1", b"pq", b"q1", b"r1"):
        lot.park("acme", raw, now_ms=1000, schedule=lambda at: None)
    asked = []

    def may_go(raw, waited):
        asked.append(raw)
        return raw != b"r1"

    released = list(lot.release("acme", 1100, may_go, lambda at: None, touched=frozenset({"p"})))
    assert released == [b"p1", b"pq", b"q1"] and asked == [b"p1", b"pq", b"q1"]  # r1 is not asked
    asked.clear()
    assert list(lot.release("acme", 1300, may_go, lambda at: None)) == [] and asked == [b"r1"]


def test_a_restored_parking_lot_counts_what_its_state_holds():
    state = ListState()
    state.update([(b"a", 1), (b"b", 2)])
    assert ParkingLot(state, retry_ms=200).size("acme") == 2


def _profile(profile_id: str) -> bytes:
    return CODEC.encode(
        "identity_profile",
        {
            "tenant": T,
            "user_id": profile_id,
            "merged_into": None,
            "deleted": False,
            "external_ids": [{"type": "email", "value": f"{profile_id}@x.io", "first_seen_ms": 1}],
        },
    )


def _message(message_id: str, profile_id: str) -> bytes:
    return CODEC.encode("compute_message", message_record(message(profile=profile_id, message_id=message_id)))


def _batch(*records: bytes) -> bytes:
    return frames.pack([(0, b"", r) for r in records])


def _sent(outputs) -> list[str]:
    """message ids of the outbound events in the operator's output frames"""
    return [
        CODEC.decode(value)["message_id"] for frame in outputs for out, _k, value in frames.unpack(frame) if out == 0
    ]


def _driver(tmp_path, **options) -> OperatorDriver:
    """One bucket, by default: every profile's state in one key, as the tests below expect."""
    options.setdefault("buckets", 1)
    settings = config.load({"HEADWATER_DATA_DIR": str(tmp_path)})
    driver = OperatorDriver(DedupeMessages(settings, DedupeSettings(**options), expected={}))
    hook = Destination(T, "hook", "webhook", ("aud-1",))
    assert driver.broadcast(CODEC.encode("destination", destination_record(hook))) == []
    return driver


def test_the_operator_holds_a_message_until_its_profile_arrives_and_keeps_arrival_order(tmp_path):
    driver = _driver(tmp_path, profile_wait_ms=10_000, retry_ms=200)
    assert _sent(driver.element(_batch(_profile("p-1"), _message("m-1", "p-1")), key=T)) == ["m-1"]
    # p-2 is not known: m-2 waits, and so does m-4, behind it; m-3, of a known profile, goes on
    batch = _batch(_message("m-2", "p-2"), _message("m-3", "p-1"), _message("m-4", "p-2"))
    assert _sent(driver.element(batch, key=T)) == ["m-3"]
    assert driver.advance(1000) == []
    assert driver.runtime.metrics.counters["waiting"].count == 2
    assert _sent(driver.element(_batch(_profile("p-2")), key=T)) == ["m-2", "m-4"]
    assert driver.runtime.metrics.counters["waiting"].count == 0


def test_a_late_profile_holds_back_the_messages_that_read_it_only(tmp_path):
    """A merge of p-3 into p-1 waits for p-3; a later message of p-1 may go by itself but waits behind
    the merge (they share p-1); p-5's message goes on. Order per profile, never per tenant."""
    driver = _driver(tmp_path, profile_wait_ms=10_000, retry_ms=200)
    merge = CODEC.encode(
        "compute_message",
        message_record(message(trigger="profile_merge", profile="p-1", message_id="m-merge", merged=("p-3",))),
    )
    batch = _batch(_profile("p-1"), _profile("p-5"), merge, _message("m-after", "p-1"), _message("m-other", "p-5"))
    assert _sent(driver.element(batch, key=T)) == ["m-other"]
    assert driver.runtime.metrics.counters["waiting"].count == 2
    restarted = _driver(tmp_path, profile_wait_ms=10_000, retry_ms=200)  # the names come back from the state
    restarted.runtime.current_key = T
    restarted.function.parking.state.update(driver.state("parked", T).get())
    late = _batch(_profile("p-1"), _profile("p-5"), _message("m-also-after", "p-1"), _message("m-other-2", "p-5"))
    assert _sent(restarted.element(late, key=T)) == ["m-other-2"]
    assert _sent(restarted.element(_batch(_profile("p-3")), key=T)) == ["m-merge", "m-after", "m-also-after"]


def test_the_operator_gives_up_waiting_for_a_profile_after_the_profile_wait(tmp_path):
    driver = _driver(tmp_path, profile_wait_ms=1000, retry_ms=200)
    assert driver.element(_batch(_message("m-1", "p-9")), key=T) == []
    assert driver.advance(800) == []
    driver.advance(400)  # decided with what is known: no ids, so nothing to send
    counters = driver.runtime.metrics.counters
    assert (counters["profile_wait_timeouts"].count, counters["dropped"].count, counters["waiting"].count) == (1, 1, 0)


def test_a_restarted_operator_releases_the_messages_its_state_kept(tmp_path):
    driver = _driver(tmp_path, profile_wait_ms=1000, retry_ms=200)
    driver.element(_batch(_message("m-1", "p-9")), key=T)
    parked = driver.state("parked", T).get()
    restarted = _driver(tmp_path, profile_wait_ms=1000, retry_ms=200)
    restarted.runtime.current_key = T
    restarted.function.parking.state.update(parked)  # what a restore puts back
    assert _sent(restarted.element(_batch(_profile("p-9")), key=T)) == ["m-1"]


def _stamped_batch(*records: tuple[bytes, int]) -> bytes:
    """A batch as TenantBatches.java builds it with timestamps: each record's key is its Kafka timestamp."""
    return frames.pack([(0, stamp.to_bytes(8, "big"), r) for r, stamp in records])


def test_outbound_events_carry_the_message_timestamp_through_waiting_and_freshness_counts_from_it(tmp_path):
    driver = _driver(tmp_path, profile_wait_ms=10_000, retry_ms=200)
    driver.element(_stamped_batch((_profile("p-1"), 1)), key=T)
    now_ms = int(time.time() * 1000)
    decided = driver.element(_stamped_batch((_message("m-1", "p-1"), now_ms - 5_000)), key=T)
    assert driver.element(_stamped_batch((_message("m-2", "p-2"), now_ms - 9_000)), key=T) == []  # waits
    decided += driver.element(_batch(_profile("p-2")), key=T)
    outbound = [(v, t) for f in decided for out, _k, v, t in frames.unpack_stamped(f) if out == 0]
    stamps = {CODEC.decode(v)["message_id"]: t for v, t in outbound}
    assert stamps == {"m-1": now_ms - 5_000, "m-2": now_ms - 9_000}
    driver.function.gauges.push(force=True)
    freshness = {name: c.count for name, c in driver.runtime.metrics.counters.items() if name.startswith("fresh")}
    assert 9_000 <= freshness["freshness_max_ms"] < 60_000
    assert 5_000 <= freshness["freshness_p50_ms"] <= freshness["freshness_max_ms"]


def test_the_size_cache_is_bounded_and_never_wrong():
    """Keys below the tenant are unbounded in number: the lot remembers at most `cache_keys` sizes, keeps
    the keys that have records waiting, and reads the state for a key it forgot."""
    states: dict[str, ListState] = {}

    class PerKey:  # a keyed ListState: the current key's list
        current = "k0"

        def get(self):
            return states.setdefault(self.current, ListState()).get()

        def add(self, value):
            states.setdefault(self.current, ListState()).add(value)

        def update(self, values):
            states.setdefault(self.current, ListState()).update(values)

    state = PerKey()
    lot = ParkingLot(state, retry_ms=200, cache_keys=3)
    state.current = "waits"
    lot.park("waits", b"x", now_ms=1, schedule=lambda at: None)
    for n in range(10):
        state.current = f"k{n}"
        assert lot.size(f"k{n}") == 0
    assert len(lot.sizes) <= 3 and lot.sizes.get("waits") == 1  # the waiting key was kept
    lot.sizes.clear()  # forgotten: the state still says the truth
    state.current = "waits"
    assert lot.size("waits") == 1
