"""Logging for every Headwater process: the CLI, the jobs' operators, the harness and benchmarks.

`configure()` (idempotent) gives the `headwater` logger two handlers with bare messages:
records below WARNING go to stdout, WARNING and above to stderr. So a command's results and a job's
progress lines land on stdout (in a TaskManager's `.out` file for a job on a cluster, and in the log
of `headwater run`), and problems on stderr. Inside a job, `configure_job()` sends everything to
stdout instead. `progress` is a logger whose lines always go to stderr,
for the progress of long commands whose stdout is their result (`headwater produce`, `import-csv`).

The handlers look `sys.stdout`/`sys.stderr` up when they write, so output that a caller redirects
(pytest, the demo) follows.
"""

from __future__ import annotations

import logging
import sys

ROOT = "headwater"


class _CurrentStream(logging.StreamHandler):
    """A StreamHandler for sys.stdout or sys.stderr as they are at the time of each record."""

    def __init__(self, stream_name: str):
        self._stream_name = stream_name
        super().__init__()

    @property
    def stream(self):
        return getattr(sys, self._stream_name)

    @stream.setter
    def stream(self, _value):  # StreamHandler.__init__ assigns it; the property decides
        pass


class _Below(logging.Filter):
    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level


def configure(level: int = logging.INFO) -> None:
    """Install the handlers once per process (a TaskManager opens many operators in one interpreter)."""
    root = logging.getLogger(ROOT)
    root.setLevel(level)
    if getattr(root, "_headwater_configured", False):
        return
    formatter = logging.Formatter("%(message)s")
    out, err = _CurrentStream("stdout"), _CurrentStream("stderr")
    out.addFilter(_Below(logging.WARNING))
    err.setLevel(logging.WARNING)
    for handler in (out, err):
        handler.setFormatter(formatter)
        root.addHandler(handler)
    progress_logger = logging.getLogger(f"{ROOT}.progress")
    progress_handler = _CurrentStream("stderr")
    progress_handler.setFormatter(formatter)
    progress_logger.addHandler(progress_handler)
    progress_logger.propagate = False
    root.propagate = False
    root._headwater_configured = True


def configure_job(level: int = logging.INFO) -> None:
    """For code running inside a Flink job (an operator's `open`): every record of the `headwater.jobs`
    loggers goes to stdout, warnings too. In thread mode a TaskManager's stderr is a pipe PyFlink does
    not read; stdout lands in the TaskManager's `.out` file and in the log of `headwater run`."""
    jobs = logging.getLogger(f"{ROOT}.jobs")
    jobs.setLevel(level)
    if getattr(jobs, "_headwater_configured", False):
        return
    handler = _CurrentStream("stdout")
    handler.setFormatter(logging.Formatter("%(message)s"))
    jobs.addHandler(handler)
    jobs.propagate = False
    jobs._headwater_configured = True


def get_logger(name: str) -> logging.Logger:
    """The logger of one module (`headwater.<module>`), under the handlers of `configure`."""
    return logging.getLogger(f"{ROOT}.{name}")


progress = logging.getLogger(f"{ROOT}.progress")
