"""Messages that wait: for the profiles they read to appear on `hw.identity.profiles`, or for the
config that existed when the job was submitted.

- A message waits while the submit-time config snapshot is incomplete in the broadcast state
  (config.py), or while a profile it reads (its own; for a merge, the merged ones too) is not known.
- Per key, messages go in arrival order: once one waits, every later message of the key waits
  behind it, so one profile's messages are never reordered.
- A waiting message goes as soon as it can, or once it has waited `profile_wait_ms` (it is then
  decided with what is known, and counted as a profile wait timeout).
- The config is waited for at most `config_wait_ms`, from the first message that needed it; then
  the job goes on without the rest of the snapshot (counted, and logged once).

Waiting messages live in Flink ListState with the time they were parked (checkpointed: a restart
keeps them); while any wait, a processing-time timer brings the key back every `retry_ms`.
Nothing here knows Flink: the state is anything with get/add/update, the timer a callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
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


class ParkingLot:
    """The waiting messages of each key, oldest first, as (raw message, parked at ms) in `state` (a
    keyed ListState: it holds the current key's list)."""

    def __init__(self, state, retry_ms: int):
        self.state = state
        self.retry_ms = retry_ms
        self.sizes: dict[object, int] = {}  # key -> waiting messages (a count, to spare state reads)

    def size(self, key) -> int:
        if key not in self.sizes:  # first touch since open: the state may hold restored messages
            self.sizes[key] = sum(1 for _ in (self.state.get() or []))
        return self.sizes[key]

    def park(self, key, raw: bytes, now_ms: int, schedule: Callable[[int], None]) -> None:
        """Add a message behind the others; the first one to wait asks for a timer."""
        waiting = self.size(key)
        self.state.add((raw, now_ms))
        self.sizes[key] = waiting + 1
        if waiting == 0:
            schedule(now_ms + self.retry_ms)

    def release(
        self, key, now_ms: int, may_go: Callable[[bytes, int], bool], schedule: Callable[[int], None]
    ) -> Iterator[bytes]:
        """The messages that may go now (`may_go(raw, waited_ms)`), oldest first, up to the first that
        may not; the rest keep waiting, in order, and ask for another timer."""
        parked = list(self.state.get() or [])
        done = 0
        for raw, parked_at in parked:
            if not may_go(raw, now_ms - parked_at):
                break
            done += 1
            yield raw
        if done:
            self.state.update(parked[done:])
        self.sizes[key] = len(parked) - done
        if self.sizes[key]:
            schedule(now_ms + self.retry_ms)
