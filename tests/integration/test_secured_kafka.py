"""Secured Kafka: every client takes HEADWATER_KAFKA_PROPERTIES (docs/operations.md, "Secured Kafka").

The local broker has a SASL/PLAIN listener beside its plain one. Through it, with only the properties
file to say how to log in: `headwater produce` writes generated records, api-unification (sources and the
exactly-once sinks, Java clients) turns them into actions, and `headwater tail` reads them back. The
plain listener then confirms what was committed. With a wrong password, the CLI and `headwater run`
stop with one line that names the file, instead of retrying or hanging; a job whose own (Java) login
is refused says so at each restart.
"""

from __future__ import annotations

import time

import pytest

from common.serde.avro import AvroCodec
from common.topics import topic
from harness.jobs import RunningJob, run_headwater
from harness.kafka import Collector
from harness.routed import messages_in, wait_for_messages
from infra.stack.services import LOCAL_SASL_PASSWORD, LOCAL_SASL_USER, local_sasl_port

pytestmark = pytest.mark.integration

RECORDS = 300
# The generator's records are valid and their types never conflict: each one becomes one message.
PRODUCE = ["produce", "--source", "api", "--generate", str(RECORDS), "--seed", "7"]


def _properties(path, password: str) -> str:
    path.write_text(
        "security.protocol=SASL_PLAINTEXT\n"
        "sasl.mechanism=PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n"
        f'    username="{LOCAL_SASL_USER}" password="{password}";\n'
        "client.id=headwater-secured-test\n"
    )
    return str(path)


@pytest.mark.timeout(420)
def test_a_pipeline_runs_through_sasl_and_a_wrong_password_stops_with_one_line(isolated_env, tmp_path):
    env, settings = isolated_env
    secured = {
        **env,
        "HEADWATER_KAFKA": f"127.0.0.1:{local_sasl_port(settings)}",
        "HEADWATER_KAFKA_PROPERTIES": _properties(tmp_path / "client.properties", LOCAL_SASL_PASSWORD),
    }
    expected = RECORDS
    actions = Collector(settings.kafka_bootstrap, topic(settings.topic_prefix, "unified.actions"))  # plain listener

    job = RunningJob("api-unification", secured, tmp_path / "job.log")
    try:
        produced = run_headwater(secured, *PRODUCE)
        assert produced.returncode == 0, produced.stderr
        messages = wait_for_messages(actions, expected, timeout=240, alive=job.alive)
        assert len(messages) == expected, f"{len(messages)}/{expected} messages"
        actions.catch_up(idle=2)
        records = len(actions.values)  # each message's routed records: itself and a link per other id
        tailed = run_headwater(secured, "tail", "unified.actions", "--max", str(records), "--timeout", "20")
        assert tailed.returncode == 0, tailed.stderr
        assert len(tailed.stdout.splitlines()) == records
    finally:
        job.kill()
    actions.poll_for(2)
    assert len(actions.values) == records  # exactly once through the SASL listener
    assert len(messages_in(AvroCodec(), actions.values)) == expected

    wrong = {**secured, "HEADWATER_KAFKA_PROPERTIES": _properties(tmp_path / "wrong.properties", "not-the-password")}
    for command in (PRODUCE, ["run", "api-unification"]):
        done = run_headwater(wrong, *command, timeout=120)
        lines = done.stderr.strip().splitlines()
        assert done.returncode != 0 and len(lines) == 1, (command, done.stderr)
        assert "refused the login" in lines[0] and str(tmp_path / "wrong.properties") in lines[0], lines[0]

    # Only the jobs' (Java) login is wrong: the CLI's check passes, the job's sources fail, and `headwater
    # run` says why each time Flink restarts it, instead of running on silently with nothing read.
    java_wrong = _properties(tmp_path / "java-wrong.properties", LOCAL_SASL_PASSWORD)
    with open(java_wrong, "a") as extra:
        extra.write(
            "java.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{LOCAL_SASL_USER}" password="not-the-password";\n'
        )
    job = RunningJob("api-unification", {**secured, "HEADWATER_KAFKA_PROPERTIES": java_wrong}, tmp_path / "java.log")
    try:
        deadline = time.monotonic() + 120
        while "failed and restarts" not in (text := (tmp_path / "java.log").read_text(errors="replace")):
            assert job.alive() and time.monotonic() < deadline, text[-2000:]
            time.sleep(1)
    finally:
        job.kill()
    report = next(line for line in text.splitlines() if "failed and restarts" in line)
    assert "Authentication failed" in report, report
