"""A document whose write MongoDB refused is parked (jobs/reaction_streaming/parking.py, issue 18,
item 4): its later deltas wait in state until the refused ones come back, so no document ever holds a
newer version with an older change missing; then all are written together."""

from common.serde.avro import AvroCodec
from jobs.reaction_streaming.parking import Parked, park, sort_out
from tests.unit.reaction_streaming.test_flushing import ScriptedWriter, _driver, delta

CODEC = AvroCodec()


def test_a_parked_document_waits_for_every_refused_version_then_is_released():
    parked = {"acme:b": Parked({2, 3})}
    first = sort_out([delta("a", 1), delta("b", 4), delta("b", 2)], parked, CODEC, max_waiting=10)
    assert first.to_write == [delta("a", 1)] and first.released == [] and first.held == 1
    assert parked["acme:b"].refused == {3}
    second = sort_out([delta("b", 3)], parked, CODEC, max_waiting=10)
    assert second.released == ["acme:b"] and parked == {}
    assert second.to_write == [delta("b", 4), delta("b", 2), delta("b", 3)]  # coalesce orders by version


def test_a_full_waiting_list_refuses_the_delta_and_waits_for_it_too():
    parked = {"acme:b": Parked({2}, [delta("b", 3)])}
    out = sort_out([delta("b", 4)], parked, CODEC, max_waiting=1)
    assert out.overflow == [delta("b", 4)] and parked["acme:b"].refused == {2, 4}
    assert sort_out([delta("b", 2)], parked, CODEC, max_waiting=1).released == []  # 4 is still missing


def test_park_merges_refusals_and_held_deltas():
    parked = {}
    assert park(parked, {"acme:b": {1}}, {"acme:b": [b"x"], "acme:c": [b"y"]}) == {"acme:b", "acme:c"}
    assert parked["acme:b"].pack() == ([1], [b"x"]) and Parked.unpack(parked["acme:b"].pack()) == parked["acme:b"]


def test_the_operator_holds_a_refused_documents_later_deltas_until_the_redrive():
    writer = ScriptedWriter(refuse={"acme:b"})
    driver = _driver(writer, max_deltas=2, max_delay_ms=60_000)
    driver.element(delta("a", 1), key=0)
    refused = driver.element(delta("b", 1), key=0)
    assert [CODEC.decode(r)["reason"] for r in refused] == ["WRITE_REFUSED"]
    assert "redrive" in CODEC.decode(refused[0])["detail"]
    writer.refuse.clear()  # the document is fixed
    driver.element(delta("b", 2), key=0)
    assert driver.element(delta("c", 1), key=0) == []
    assert writer.batches[-1] == ["acme:c"]  # b's version 2 waits: version 1 is missing
    assert Parked.unpack(driver.state("parked", 0).get("acme:b")).refused == {1}
    driver.element(delta("b", 1), key=0)  # redriven
    driver.element(delta("d", 1), key=0)
    assert writer.batches[-1] == ["acme:d", "acme:b"] and not driver.state("parked", 0).contains("acme:b")
    counters = driver.runtime.metrics.counters
    assert counters["documents_parked"].count == 1 and counters["documents_released"].count == 1
