"""When a job's operator prints its progress line.

At most every `every_s` seconds, only when the totals changed, and never lost at the end of a burst:
when a line is due too soon, a processing-time timer brings the operator back to print it. Lines go
to stdout: in thread mode stderr is a pipe PyFlink does not read.
"""

from __future__ import annotations

import time


class ProgressThrottle:
    def __init__(self, totals: dict, every_s: float = 2.0):
        self.every_s = every_s
        self.reported, self.reported_at = dict(totals), 0.0

    def due(self, totals: dict, ctx) -> bool:
        """True when a line with `totals` should be printed now (and remembers them as printed)."""
        if totals == self.reported:
            return False
        now = time.monotonic()
        if now - self.reported_at < self.every_s:
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + int(self.every_s * 1000))
            return False
        self.reported, self.reported_at = dict(totals), now
        return True
