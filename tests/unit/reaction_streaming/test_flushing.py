"""When reaction-streaming flushes and what a flush emits: the pure policy, then the operator itself on
a fake runtime (harness/flink_fake.py) with a scripted MongoDB, so no stack is needed."""

from common import config
from common.serde.avro import AvroCodec
from harness.flink_fake import OperatorDriver
from jobs.reaction_streaming.flushing import FlushPolicy, flush
from jobs.reaction_streaming.operators import ApplyDeltas
from jobs.reaction_streaming.settings import ReactionSettings
from jobs.reaction_streaming.writer import Outcome, Refused

CODEC = AvroCodec()


def delta(doc: str, version: int, **changes) -> bytes:
    record = {
        "tenant": "acme",
        "collection": "users",
        "doc_id": f"acme:{doc}",
        "version": version,
        "message_id": f"m-{doc}-{version}",
        "delete": False,
        "set": {"version": version},
        "unset": [],
        "add_to_set": {},
        "pull": {},
        **changes,
    }
    return CODEC.encode("state_delta", record)


class ScriptedWriter:
    """Applies everything, or refuses the writes of the documents named in `refuse`."""

    def __init__(self, refuse=()):
        self.refuse, self.batches, self.up, self.pings = set(refuse), [], True, 0

    def close(self):
        pass

    def available(self):
        self.pings += 1
        return self.up

    def apply(self, writes_per_document):
        self.batches.append([w.doc_id for ws in writes_per_document for w in ws])
        out = Outcome(latencies_ms=[3.0])
        for writes in writes_per_document:
            for write in writes:
                if write.doc_id in self.refuse:
                    out.refused.append(Refused(write, 2, "not an array"))
                else:
                    out.applied += 1
        return out


def test_the_first_delta_of_a_batch_sets_the_timer_and_a_full_batch_flushes():
    policy = FlushPolicy(max_deltas=3, max_delay_ms=1000)
    assert policy.timer_for(1, now_ms=5000) == 6000
    assert policy.timer_for(2, now_ms=5000) is None
    assert [policy.full(n) for n in (1, 2, 3, 4)] == [False, False, True, True]


def test_a_flush_coalesces_writes_and_turns_refusals_and_garbage_into_rejections():
    writer = ScriptedWriter(refuse={"acme:b"})
    records = [delta("a", 1), delta("a", 2), delta("b", 1), b"\xc3\x01garbage"]
    out = flush(records, CODEC, writer, now_ms=42)
    assert writer.batches == [["acme:a", "acme:b"]]  # a's two deltas folded into one write
    assert out.counts == {
        "deltas": 3,
        "writes": 2,
        "applied": 1,
        "stale": 0,
        "refused": 1,
        "retries": 0,
        "flushes": 1,
        "deferred": 0,
    }
    reasons = sorted((r["reason"], r["message_id"]) for r in map(CODEC.decode, out.rejected))
    assert reasons == [("INVALID_DELTA", None), ("WRITE_REFUSED", "m-b-1")]
    assert flush([], CODEC, writer, now_ms=42).counts["flushes"] == 0


def _driver(writer, **options):
    settings = config.load({})
    operator = ApplyDeltas(settings, ReactionSettings(**options), connect=lambda *_: (None, writer))
    return OperatorDriver(operator)


def test_the_operator_flushes_a_shard_after_the_delay_and_keeps_pending_deltas_in_state():
    writer = ScriptedWriter()
    driver = _driver(writer, max_deltas=100, max_delay_ms=1000)
    assert driver.element(delta("a", 1), key=3) == []
    assert driver.element(delta("b", 1), key=3) == []
    assert len(driver.state("pending", 3).get()) == 2  # in Flink state: part of every checkpoint
    assert driver.advance(999) == [] and writer.batches == []
    driver.advance(1)
    assert writer.batches == [["acme:a", "acme:b"]]
    assert driver.state("pending", 3).get() == []
    assert driver.runtime.metrics.counters["applied"].count == 2


def test_the_operator_flushes_a_full_shard_at_once_and_yields_the_rejections():
    writer = ScriptedWriter(refuse={"acme:b"})
    driver = _driver(writer, max_deltas=2, max_delay_ms=60_000)
    driver.element(delta("a", 1), key=0)
    out = driver.element(delta("b", 1), key=0)
    assert [CODEC.decode(r)["reason"] for r in out] == ["WRITE_REFUSED"]
    assert driver.runtime.metrics.counters["refused"].count == 1
    assert driver.advance(60_000) == []  # the timer of the flushed batch finds nothing pending
    assert writer.batches == [["acme:a", "acme:b"]]


def test_while_mongodb_does_not_answer_a_shard_keeps_its_deltas_and_tries_again_later():
    writer = ScriptedWriter()
    driver = _driver(writer, max_deltas=2, max_delay_ms=1000, retry_window_ms=10_000)
    writer.up = False
    driver.element(delta("a", 1), key=5)
    driver.element(delta("b", 1), key=5)  # full: a flush that finds MongoDB down
    assert len(driver.state("pending", 5).get()) == 2 and writer.batches == []
    driver.element(delta("c", 1), key=5)  # still full, but the shard waits for its retry, not per delta
    assert driver.runtime.metrics.counters["deferred"].count == 1
    driver.advance(9_999)
    assert driver.runtime.metrics.counters["deferred"].count == 1  # the first timer (1 s) did not retry early
    driver.advance(1)  # the retry, still down
    assert driver.runtime.metrics.counters["deferred"].count == 2 and len(driver.state("pending", 5).get()) == 3
    writer.up = True
    driver.advance(10_000)
    assert writer.batches == [["acme:a", "acme:b", "acme:c"]] and driver.state("pending", 5).get() == []


def test_a_write_that_keeps_failing_gives_up_after_the_retry_window():
    import pytest
    from pymongo.errors import AutoReconnect

    from jobs.reaction_streaming.coalesce import Write
    from jobs.reaction_streaming.writer import Backoff, MongoWriter, StoreUnavailable

    now = [0.0]

    class Down:
        def command(self, _command):
            raise AutoReconnect("connection refused")

    def sleep(seconds):
        now[0] += seconds

    writer = MongoWriter(Down(), 16, backoff=Backoff(0.5, 2.0), sleep=sleep, retry_window_s=10, clock=lambda: now[0])
    with pytest.raises(StoreUnavailable):
        writer.apply([[Write("users", "acme:a", 1, set={"x": 1})]])
    assert 8 <= now[0] <= 10  # retried with backoff until the window was used up


def test_once_mongodb_is_found_down_the_other_shards_do_not_knock_until_the_retry():
    writer = ScriptedWriter()
    driver = _driver(writer, max_deltas=1, max_delay_ms=1000, retry_window_ms=10_000)
    writer.up = False
    for key in range(4):  # four shards, each full at once
        driver.element(delta(f"d{key}", 1), key=key)
    assert writer.pings == 1 and driver.runtime.metrics.counters["deferred"].count == 4
    writer.up = True
    driver.advance(10_000)
    assert sorted(doc for batch in writer.batches for doc in batch) == [f"acme:d{k}" for k in range(4)]


def test_a_misconfigured_store_keeps_every_delta_and_rejects_none():
    from jobs.reaction_streaming.writer import StoreMisconfigured

    class Refusing(ScriptedWriter):
        def apply(self, writes_per_document):
            raise StoreMisconfigured("MongoDB error 13: not authorized")

    writer = Refusing()
    driver = _driver(writer, max_deltas=2, max_delay_ms=1000, retry_window_ms=10_000)
    outputs = list(driver.element(delta("a", 1), key=5)) + list(driver.element(delta("b", 1), key=5))
    assert outputs == [] and len(driver.state("pending", 5).get()) == 2
    assert driver.runtime.metrics.counters["deferred"].count == 1
    assert driver.runtime.metrics.counters["refused"].count == 0
