"""What api-unification writes to hw.rejected for one message stays bounded by the message's size
(issue 18, item 3): its original bytes once, each refused part with its own excerpt, many parts of one
reason as one record that counts them. Before, every refused part re-encoded the whole original: one
228 KB SDK batch of 6,000 tiny events wrote 1.35 GB."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.synthetic import WRITE_KEYS
from common.contracts.rejections import Reason, Rejection
from common.contracts.tenants import load_registry
from common.serde.avro import AvroCodec
from harness.hostile import SOURCES, payloads
from jobs.api_unification.records import encode_rejections
from jobs.api_unification.rejection_budget import BASE_BYTES, INDIVIDUAL_PER_REASON, PART_BYTES, shape
from jobs.api_unification.unify import unify

ARRIVAL_MS = 1_795_000_000_000
REGISTRY = load_registry()
CODEC = AvroCodec()


def _batch(events: int) -> bytes:
    return json.dumps(
        {
            "tenant": "acme",
            "write_key": WRITE_KEYS["acme"],
            "message_id": "big-batch",
            "user": {"customer_id": "c1"},
            "events": [{"name": f"e{i % 10}", "time": ARRIVAL_MS} for i in range(events)],
        },
        separators=(",", ":"),
    ).encode()  # about 228 KB for 6,000 events, as in the issue


def test_the_batch_that_made_a_gigabyte_now_makes_less_than_its_own_size_twice():
    raw = _batch(6_000)
    outcome = unify("sdk", raw, ARRIVAL_MS, REGISTRY)
    assert len(outcome.rejections) == 5_900 and {r.reason for r in outcome.rejections} == {Reason.LIMIT_EXCEEDED}
    encoded = encode_rejections(CODEC, outcome, outcome.rejections)
    assert sum(len(e) for e in encoded) <= 2 * len(raw)
    records = [CODEC.decode(e) for e in encoded]
    assert [r["original"] for r in records if r["original"]] == [raw]  # once
    assert [r["original_omitted"] for r in records] == [False] + [True] * (len(records) - 1)
    assert sum(r["parts"] for r in records) == 5_900  # every refused part is accounted for
    individual = records[:INDIVIDUAL_PER_REASON]
    assert [r["path"] for r in individual] == [f"events[{i}]" for i in range(100, 100 + INDIVIDUAL_PER_REASON)]
    assert json.loads(individual[0]["part"]) == {"name": "e0", "time": ARRIVAL_MS}
    rest = records[-1]
    assert rest["parts"] == 5_900 - INDIVIDUAL_PER_REASON and rest["path"].startswith("events[110], events[111]")
    assert "and 5889 more parts refused for LIMIT_EXCEEDED" in rest["detail"]


def test_a_message_refused_whole_keeps_its_original_and_a_later_stage_does_not_repeat_it():
    outcome = unify("api", b'{"tenant": "acme", "type": ', ARRIVAL_MS, REGISTRY)
    (record,) = [CODEC.decode(e) for e in encode_rejections(CODEC, outcome, outcome.rejections)]
    assert record["original"] == outcome.raw and record["parts"] == 1 and not record["original_omitted"]
    later = shape([Rejection(Reason.SCHEMA_UNDECIDED, "waited")], outcome.raw, original_sent=True)
    assert [s.carries_original for s in later] == [False]


def test_a_part_is_the_json_it_names_cut_to_its_limit():
    raw = json.dumps({"events": [{"properties": {"text": "x" * 1_000}}], "attributes": {"plan": 7}}).encode()
    deep, attribute, nowhere = shape(
        [
            Rejection(Reason.LIMIT_EXCEEDED, "too long", "events[0].properties.text"),
            Rejection(Reason.TYPE_CONFLICT, "was a string", "attributes.plan"),
            Rejection(Reason.INVALID_FIELD, "bad", "user.email"),
        ],
        raw,
    )
    assert deep.part == b'"' + b"x" * (PART_BYTES - 1) and attribute.part == b"7" and nowhere.part == b""


@settings(max_examples=600, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), source=st.sampled_from(SOURCES))
def test_bytes_out_stay_under_twice_the_bytes_in_for_any_message(data, source):
    """Both stages that refuse parts (the rules, then the schema gate with whatever it refuses) together
    write at most 2 x the message's size + 2 x BASE_BYTES, and its original bytes at most once."""
    payload = data.draw(payloads(source, ARRIVAL_MS))
    outcome = unify(source, payload.raw, ARRIVAL_MS, REGISTRY)
    first = encode_rejections(CODEC, outcome, outcome.rejections)
    gate = []
    if outcome.action is not None:
        paths = [e.path or "event" for e in outcome.action.events] or ["attributes"]
        refused = data.draw(
            st.lists(
                st.builds(
                    Rejection,
                    st.sampled_from([Reason.TYPE_CONFLICT, Reason.LIMIT_EXCEEDED]),
                    st.text(min_size=1, max_size=600),
                    st.sampled_from(paths),
                ),
                max_size=300,
            )
        )
        gate = encode_rejections(CODEC, outcome, refused, original_sent=bool(outcome.rejections))
    written = first + gate
    assert sum(len(e) for e in written) <= 2 * len(payload.raw) + 2 * BASE_BYTES
    originals = [r for r in (CODEC.decode(e) for e in written) if not r["original_omitted"]]
    assert len(originals) == (1 if written else 0)
