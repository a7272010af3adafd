"""The local stack's failures are one line that names the problem and what to read or do."""

import socket
import subprocess
import sys

import pytest

from infra.stack.process import Service, StackError


def _service(tmp_path, port, command=lambda: ["sleep", "30"], ready=lambda: False, timeout=2.0):
    return Service(
        name="svc",
        host="127.0.0.1",
        port=port,
        run_dir=tmp_path / "run",
        log_dir=tmp_path / "logs",
        command=command,
        ready=ready,
        start_timeout=timeout,
        port_hint="set HEADWATER_X",
    )


def test_taken_port_names_the_port_and_the_fix(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(
            StackError, match=rf"port 127.0.0.1:{port} is taken by another process; stop it or set HEADWATER_X"
        ):
            _service(tmp_path, port).start()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_process_that_dies_names_its_log(tmp_path):
    svc = _service(tmp_path, _free_port(), command=lambda: ["sh", "-c", "echo boom; exit 3"])
    with pytest.raises(StackError, match=r"svc exited while starting; read .*svc\.log"):
        svc.start()
    assert "boom" in (tmp_path / "logs" / "svc.log").read_text()
    assert not svc.pid_file.exists()


def test_missing_binary_says_run_make_setup(tmp_path):
    svc = _service(tmp_path, _free_port(), command=lambda: [str(tmp_path / "nope")])
    with pytest.raises(StackError, match="make setup"):
        svc.start()


def test_not_answering_in_time_names_the_log_and_stop_kills_it(tmp_path):
    svc = _service(tmp_path, _free_port(), timeout=1.0)
    with pytest.raises(StackError, match=r"did not answer .* within 1 s; read"):
        svc.start()
    pid = svc.running_pid()
    assert pid is not None  # still recorded, so `down` can stop it
    assert svc.stop() is True
    assert svc.running_pid() is None


def test_start_is_idempotent_and_stop_only_stops_what_it_started(tmp_path):
    ready = {"v": False}
    svc = _service(tmp_path, _free_port(), ready=lambda: ready["v"])
    ready["v"] = True
    assert svc.start() is True
    pid = svc.running_pid()
    assert svc.start() is False and svc.running_pid() == pid
    assert svc.stop() is True and svc.stop() is False


def _cli(*args, env=None):
    import os

    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_cli_unknown_job_is_one_line_and_nonzero():
    r = _cli("run", "no-such-job")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "headwater: error: no job named 'no-such-job'; "
        "jobs: action-streaming, api-unification, audience-computation, profile-dedupe, reaction-streaming, skeleton"
    ]


def test_cli_bad_environment_is_one_line_and_nonzero():
    r = _cli("status", env={"HEADWATER_KAFKA": "nope"})
    assert r.returncode == 1
    assert r.stderr.strip() == "headwater: error: HEADWATER_KAFKA='nope' is not HOST:PORT (e.g. 127.0.0.1:19092)"


def test_cli_produce_missing_file(tmp_path):
    r = _cli("produce", "--source", "api", "--file", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 1
    assert r.stderr.strip() == f"headwater: error: no such file: {tmp_path / 'missing.jsonl'}"


def test_a_zombie_of_another_process_counts_as_stopped():
    """`headwater down` must not wait forever on a service that a test restarted (its child) and
    that is now a zombie until the test reaps it."""
    from infra.stack.process import pid_alive

    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; "
            "p = subprocess.Popen(['sleep', '0']); print(p.pid, flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        child = int(parent.stdout.readline())
        import time

        deadline = time.monotonic() + 10
        while pid_alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pid_alive(child)  # exited, unreaped by its parent: a zombie, and not alive
    finally:
        parent.kill()
        parent.wait()
