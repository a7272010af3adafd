"""The writer's reading of server replies (a scripted `database.command`; the real server is covered by
tests/integration/test_reaction_streaming.py)."""

from pymongo.errors import AutoReconnect

from jobs.reaction_streaming.coalesce import Write
from jobs.reaction_streaming.requests import statements
from jobs.reaction_streaming.writer import Backoff, MongoWriter, rounds


class ScriptedDatabase:
    def __init__(self, replies):
        self.replies, self.commands = list(replies), []

    def command(self, command):
        assert command["ordered"] is True
        self.commands.append([s["q"]["_id"] for s in command["updates"][::2]])
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def writes(*ids):
    return [[Write("users", i, 1, set={"x": 1})] for i in ids]


def test_applied_is_what_the_version_gated_updates_modified_and_the_rest_was_stale():
    db = ScriptedDatabase([{"ok": 1, "n": 5, "nModified": 2, "upserted": [{"index": 0, "_id": "c"}]}])
    out = MongoWriter(db, 32).apply(writes("a", "b", "c"))
    assert (out.applied, out.stale, out.refused) == (2, 1, [])


def test_a_refused_write_stops_the_command_and_the_writes_after_it_are_sent_again():
    db = ScriptedDatabase(
        [
            {"ok": 1, "writeErrors": [{"index": 3, "code": 2, "errmsg": "not an array"}]},  # FerretDB: no n
            {"ok": 1, "n": 4, "nModified": 2},
        ]
    )
    out = MongoWriter(db, 32).apply(writes("a", "b", "c", "d"))
    assert db.commands == [["a", "b", "c", "d"], ["c", "d"]]  # statement 3 is b's update: b refused
    assert out.applied == 3 and [(r.write.doc_id, r.code) for r in out.refused] == [("b", 2)]


def test_an_unavailable_server_is_retried_with_capped_backoff_until_it_answers():
    slept = []
    db = ScriptedDatabase([AutoReconnect("down")] * 5 + [{"ok": 1, "n": 1, "nModified": 1}])
    out = MongoWriter(db, 32, Backoff(0.1, 0.4), sleep=slept.append).apply(writes("a"))
    assert slept == [0.1, 0.2, 0.4, 0.4, 0.4] and out.retries == 5 and out.applied == 1


def test_chunks_respect_the_statement_limit_and_rounds_keep_one_write_per_document():
    db = ScriptedDatabase(
        [{"ok": 1, "n": 2, "nModified": 2}, {"ok": 1, "n": 1, "nModified": 1}, {"ok": 1, "n": 1, "nModified": 1}]
    )
    two = [Write("users", "a", 1), Write("users", "a", 3)]
    MongoWriter(db, 4).apply([two, *writes("b", "c")])  # 4 statements: 2 writes per command
    assert db.commands == [["a", "b"], ["c"], ["a"]]
    assert [[w.doc_id for w in r] for r in rounds([two, *writes("b")])] == [["a", "b"], ["a"]]


def test_a_write_is_an_insert_if_missing_then_a_version_gated_update():
    first, second = statements(Write("users", "t:u", 3, set={"a.b": None}))
    assert first == {"q": {"_id": "t:u"}, "u": {"$setOnInsert": {"version": 0}}, "upsert": True}
    assert second == {
        "q": {"_id": "t:u", "version": {"$lt": 3}},
        "u": {"$set": {"a.b": None, "version": 3}},
        "upsert": False,
    }


class ConcurrentDatabase:
    """Applies everything after a short wait; records how many commands were in flight at once and when
    each document's writes started and ended."""

    def __init__(self):
        import threading

        self.lock, self.in_flight, self.most, self.spans = threading.Lock(), 0, 0, []

    def command(self, command):
        import time

        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        started = time.monotonic()
        time.sleep(0.02)
        ids = [s["q"]["_id"] for s in command["updates"][::2]]
        with self.lock:
            self.in_flight -= 1
            self.spans += [(doc, started, time.monotonic()) for doc in ids]
        return {"ok": 1, "n": len(ids) * 2, "nModified": len(ids)}


def test_commands_of_a_round_go_in_parallel_but_a_document_never_has_two_writes_in_flight():
    db = ConcurrentDatabase()
    docs = [f"d{i}" for i in range(20)]
    two_each = [[Write("users", d, 1, set={"x": 1}), Write("users", d, 2, set={"x": 2})] for d in docs]
    writer = MongoWriter(db, 4, in_flight=3)  # 2 writes a command: 10 commands per round
    try:
        out = writer.apply(two_each)
    finally:
        writer.close()
    assert (out.applied, out.stale, out.refused) == (40, 0, [])
    assert db.most == 3
    for doc in docs:
        first, second = [(s, e) for d, s, e in db.spans if d == doc]
        assert first[1] <= second[0], f"{doc}: its second write started before its first one ended"


def test_an_error_about_the_deployment_refuses_no_document_and_stops_the_flush():
    import pytest
    from pymongo.errors import OperationFailure

    from jobs.reaction_streaming.writer import StoreMisconfigured

    for error in (
        OperationFailure("not authorized on headwater to execute command", 13),
        OperationFailure("[msg_ping.go:55 handler.MsgPing] password authentication failed for user", 1),
    ):
        db = ScriptedDatabase([error])
        with pytest.raises(StoreMisconfigured, match="MongoDB error") as raised:
            MongoWriter(db, 32).apply(writes("a", "b", "c"))
        assert db.commands == [["a", "b", "c"]]  # not split into one refused write per document
        assert ".go:" not in str(raised.value)
    concern = ScriptedDatabase([{"ok": 1, "n": 1, "writeConcernError": {"code": 79, "errmsg": "no such mode"}}])
    with pytest.raises(StoreMisconfigured, match="write concern error 79"):
        MongoWriter(concern, 32).apply(writes("a"))


def test_after_a_refused_write_the_documents_later_writes_are_held_not_sent():
    db = ScriptedDatabase(
        [
            {"ok": 1, "writeErrors": [{"index": 1, "code": 2, "errmsg": "not an array"}]},
            {"ok": 1, "n": 1, "nModified": 1},
        ]
    )
    two = [Write("users", "a", 1), Write("users", "a", 3)]
    out = MongoWriter(db, 32).apply([two, *writes("b")])
    assert db.commands == [["a", "b"], ["b"]]  # round 2 (a's second write) is not sent
    assert [r.write.doc_id for r in out.refused] == ["a"] and [w.version for w in out.held] == [3]
