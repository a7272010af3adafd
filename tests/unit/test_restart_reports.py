"""`headwater run` says why its job restarts: each new failure once, with its cause."""

from __future__ import annotations

import logging

from common.flink import restarts


class FakeFlink:
    def __init__(self):
        self.history: list[str] = []

    def failures(self, job_id):
        return len(self.history)

    def failure(self, job_id):
        return self.history[-1]


class FakeClient:
    def get_job_id(self):
        return "job-1"


def test_each_new_failure_is_reported_once_with_its_cause(caplog, monkeypatch):
    monkeypatch.setattr(restarts, "CHECK_EVERY_S", 0.0)
    flink = FakeFlink()
    reporter = restarts.RestartReporter(FakeClient(), "api-unification", flink=flink)
    with caplog.at_level(logging.WARNING, logger=restarts.__name__):
        reporter.check()
        flink.history.append("SaslAuthenticationException: Authentication failed")
        reporter.check()
        reporter.check()
        flink.history += ["TimeoutException: a", "TimeoutException: b"]
        reporter.check()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "api-unification failed and restarts (failure 1 since it started): SaslAuthenticationException" in lines[0]
    assert "(failure 3 since it started): TimeoutException: b" in lines[1]


def test_without_the_minicluster_address_nothing_is_reported():
    reporter = restarts.RestartReporter(FakeClient(), "api-unification")
    assert reporter.flink is None
    reporter.check()  # no error
