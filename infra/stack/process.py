"""Start, watch and stop one background service, remembering its PID so `down` stops only what `up` started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import HeadwaterError
from common.processes import pid_alive


class StackError(HeadwaterError, RuntimeError):
    """A problem starting or stopping the stack; the message is one line that says what to fix."""


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class Service:
    """One process of the stack: how to run it and how to tell it is really serving."""

    name: str
    host: str
    port: int
    run_dir: Path
    log_dir: Path
    command: Callable[[], list[str]]
    ready: Callable[[], bool]
    prepare: Callable[[], None] = lambda: None
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    start_timeout: float = 60.0
    extra_ports: tuple[int, ...] = ()
    port_hint: str = ""
    cwd: Path | None = None  # the working directory (None: the caller's); created on start

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def running_pid(self) -> int | None:
        pid = self.recorded_pid()
        return pid if pid is not None and pid_alive(pid) else None

    def start(self) -> bool:
        """Start and wait until ready. Returns False if it was already running (started by us)."""
        if self.running_pid() is not None:
            if not self.ready():
                self._wait_ready(self.running_pid())
            return False
        for port in (self.port, *self.extra_ports):
            if port_open(self.host, port):
                raise StackError(
                    f"{self.name}: port {self.host}:{port} is taken by another process; stop it or {self.port_hint}"
                )
        self.prepare()
        if self.cwd is not None:
            self.cwd.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            log.write(f"\n=== headwater: starting {self.name} at {time.strftime('%Y-%m-%dT%H:%M:%S')} ===\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(
                    self.command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **self.env},
                    cwd=self.cwd,
                    start_new_session=True,
                    user=self.user,
                )
            except FileNotFoundError as exc:
                raise StackError(f"{self.name}: cannot run {exc.filename}: run `make setup`") from exc
        self.pid_file.write_text(str(proc.pid))
        self._wait_ready(proc.pid)
        return True

    def _wait_ready(self, pid: int) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                self.pid_file.unlink(missing_ok=True)
                raise StackError(f"{self.name} exited while starting; read {self.log_file}")
            try:
                if self.ready():
                    return
            except Exception:  # noqa: BLE001 - any failure of the probe means "not ready yet"
                pass
            time.sleep(0.3)
        raise StackError(
            f"{self.name} did not answer on {self.host}:{self.port} within {self.start_timeout:.0f} s; "
            f"read {self.log_file}"
        )

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the recorded process (and its process group). Returns False if it was not running."""
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        self._signal(pid, self.stop_signal)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            self._signal(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            os.kill(pid, sig)
