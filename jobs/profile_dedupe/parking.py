"""Messages that wait: for the profiles they read to appear on `hw.identity.profiles`, or for the
config that existed when the job was submitted.

- A message waits while the submit-time config snapshot is incomplete in the broadcast state
  (config.py), or while a profile it reads (its own; for a merge, the merged ones too) is not known.
- Per profile, messages go in arrival order: once one waits, every later message that reads one of
  its profiles waits behind it, so one profile's messages are never reordered, and a merge never
  passes a message of a profile it merges. A message of another profile goes on: one late profile
  holds back its own messages only, never its tenant's (ParkingLot `names`: process.profiles_read_by).
- A waiting message goes as soon as it can, or once it has waited `profile_wait_ms` (it is then
  decided with what is known, and counted as a profile wait timeout).
- The config is waited for at most `config_wait_ms`, from the first message that needed it; then
  the job goes on without the rest of the snapshot (counted, and logged once).

Waiting messages live in Flink ListState with the time they were parked (common/flink/parking.py:
checkpointed, a restart keeps them); while any wait, a timer brings the key back every `retry_ms`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum


class Verdict(Enum):
    WAIT = "wait"
    GO = "go"
    GO_TIMED_OUT = "go after the profile wait timed out"


def verdict(config_ready: bool, profiles_known: bool, waited_ms: int, profile_wait_ms: int) -> Verdict:
    """Whether a message may be decided now."""
    if not config_ready:
        return Verdict.WAIT
    if profiles_known:
        return Verdict.GO
    return Verdict.GO_TIMED_OUT if waited_ms >= profile_wait_ms else Verdict.WAIT


class ConfigWait:
    """Whether the submit-time config snapshot is complete, or has been waited for long enough."""

    def __init__(self, readiness, wait_ms: int, clock: Callable[[], float] = time.monotonic):
        self.readiness = readiness
        self.wait_ms = wait_ms
        self.clock = clock
        self.started: float | None = None
        self.gave_up = False

    def ready(self) -> bool:
        """True once the snapshot is complete or `wait_ms` passed since the first call; the call that
        gives up sets `gave_up` (for the caller to count and log) and forgets the missing records."""
        if self.readiness.ready:
            return True
        now = self.clock()
        if self.started is None:
            self.started = now
        if (now - self.started) * 1000 < self.wait_ms:
            return False
        self.gave_up = True
        self.readiness.missing.clear()
        return True
