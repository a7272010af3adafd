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


def _stream(name: str, *, below: int | None = None, level: int = logging.NOTSET) -> logging.Handler:
    """A bare-message handler on sys.<name>, for records of at least `level` and below `below`."""
    handler = _CurrentStream(name)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(level)
    if below is not None:
        handler.addFilter(_Below(below))
    return handler


def _install(name: str, handlers: list[logging.Handler], level: int) -> None:
    """Give logger `name` these handlers, once per process (a TaskManager opens many operators in one
    interpreter), and keep its records from reaching the root logger's handlers too."""
    logger = logging.getLogger(name)
    logger.setLevel(level)
    if getattr(logger, "_headwater_configured", False):
        return
    for handler in handlers:
        logger.addHandler(handler)
    logger.propagate = False
    logger._headwater_configured = True


def configure(level: int = logging.INFO) -> None:
    """The CLI's, the harness's and the benchmarks' logging: results on stdout, problems on stderr,
    `progress` on stderr."""
    _install(ROOT, [_stream("stdout", below=logging.WARNING), _stream("stderr", level=logging.WARNING)], level)
    _install(f"{ROOT}.progress", [_stream("stderr")], level)


def configure_job(level: int = logging.INFO) -> None:
    """For code running inside a Flink job (an operator's `open`): every record of the `headwater.jobs`
    loggers goes to stdout, warnings too. In thread mode a TaskManager's stderr is a pipe PyFlink does
    not read; stdout lands in the TaskManager's `.out` file and in the log of `headwater run`."""
    _install(f"{ROOT}.jobs", [_stream("stdout")], level)


def get_logger(name: str) -> logging.Logger:
    """The logger of one module (`headwater.<module>`), under the handlers of `configure`."""
    return logging.getLogger(f"{ROOT}.{name}")


progress = logging.getLogger(f"{ROOT}.progress")
