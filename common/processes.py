"""Whether a process still runs, by PID: for the stack's services (infra/stack/process.py) and for the
temporary folders of Flink JVMs whose process is gone (common/flink/temp_dirs.py)."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still "exists": reap it if it is one.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        pass
    # A zombie of another process (say a service that a test restarted, killed by `headwater down`
    # while the test still runs) also "exists" until its parent reaps it: it is dead all the same.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"
