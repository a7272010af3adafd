"""`headwater rejected redrive` decides per rejection what to send (cli/rejected.py): the original of a
message once, never a rejection already redriven, and to the topic the refusing job reads. (The real
stack: tests/integration/test_rejected_redrive.py.)"""

import pytest

from cli.main import main
from cli.rejected import Filters, Stored, plan_redrives, target_topic
from common import config

SETTINGS = config.load({"HEADWATER_TOPIC_PREFIX": "t."})


def _stored(offset, job="api-unification", source="sdk", message_id="m1", omitted=False, reason="LIMIT_EXCEEDED"):
    record = {
        "job": job,
        "source": source,
        "tenant": "acme",
        "message_id": message_id,
        "reason": reason,
        "detail": "d",
        "path": "events[3]",
        "arrival_ms": 7,
        "original": b"" if omitted else b"{}",
        "part": b"",
        "parts": 1,
        "original_omitted": omitted,
    }
    return Stored(0, offset, 1_000 + offset, record)


def test_the_original_goes_once_and_a_redriven_rejection_never_again():
    found = [_stored(1), _stored(2, omitted=True), _stored(3, message_id="m2"), _stored(4, message_id="m3")]
    plans = plan_redrives(SETTINGS, found, {"0:4": {"to": "t.ingest.sdk", "at": 0}})
    assert [p.sent_to for p in plans] == ["t.ingest.sdk", None, "t.ingest.sdk", None]
    assert plans[1].outcome == "covered: its message's original is sent with rejection 0:1"
    assert plans[3].outcome.startswith("skipped: already redriven to t.ingest.sdk")


def test_each_job_gets_its_records_back_on_the_topic_it_reads():
    def to(job, source):
        return target_topic(SETTINGS, _stored(1, job=job, source=source).record)

    assert to("api-unification", "partner") == "t.ingest.partner"
    assert to("action-streaming", "unified.actions") == "t.unified.actions"
    assert to("reaction-streaming", "state.deltas") == "t.state.deltas"
    assert to("x", "somewhere") is None


def test_filters_match_job_reason_tenant_and_time():
    s = _stored(5)
    assert Filters(job="api-unification", reason="LIMIT_EXCEEDED", tenant="acme", since_ms=1_005).match(s)
    assert not Filters(until_ms=1_005).match(s) and not Filters(reason="INVALID_JSON").match(s)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["rejected", "redrive"], "name what to redrive"),
        (["rejected", "show", "twelve"], "is not a position"),
    ],
)
def test_requests_that_cannot_be_answered_say_what_to_fix(args, says, capsys):
    assert main(args) == 1
    assert says in capsys.readouterr().err
