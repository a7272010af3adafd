"""Apply coalesced writes to MongoDB: in rounds, in chunks, retried until the server takes them.

- Rounds: the n-th write of every document goes in round n, so one document never has two writes in
  flight, and its writes land in order.
- Chunks: at most `max_statements` statements (two per write) per command
  (HEADWATER_MONGO_STATEMENTS_PER_COMMAND: FerretDB over PostgreSQL holds a connection per statement
  and hangs past its pool).
- In flight: up to `in_flight` commands of one round at once (HEADWATER_MONGO_COMMANDS_IN_FLIGHT). A
  round holds at most one write per document, and the next round starts when the whole round is done,
  so one document's writes are never in flight together and land in order. One command at a time
  waits on the store's commit latency; several keep it busy (FerretDB commits each document on its own).
- Retries: a connection or server-selection failure retries the same chunk after a capped
  exponential backoff, for at most `retry_window_s` of the whole apply; then `apply` raises
  StoreUnavailable and the caller keeps the batch for later (flushing.py), so a long outage does not
  hold the task thread, and checkpoints go on. Retrying is safe: writes are version-gated.
- Outcomes per write: applied (the document changed), stale (it was already as new,
  see requests.py), or refused (a write error: retrying cannot fix it; the job sends its deltas to
  `hw.rejected`).

Each chunk is one ordered `update` command sent with `Database.command`: what pymongo's `bulk_write`
sends, but with the reply read here, because FerretDB 1.x leaves `n`/`nModified` out of a reply that
carries a write error and `bulk_write` then fails with KeyError, losing which write failed. Ordered
because the two statements of a write must run in order (requests.py); a stale write is no error, so
a command stops only at a refused write, and the writes after it are sent again. See docs/stack.md.
"""

from __future__ import annotations

import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from common.log import get_logger
from jobs.reaction_streaming.coalesce import Write
from jobs.reaction_streaming.requests import statements

log = get_logger(__name__)

STATEMENTS_PER_WRITE = 2

# Command-level errors worth waiting out (MongoDB error codes): the server or a node is going away,
# not the request being wrong.
TRANSIENT_CODES = {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}


# Errors about the deployment, not about one document: credentials, permissions, the database name, the
# write concern. Every write would be refused the same way, so none is: the job keeps the deltas.
DEPLOYMENT_CODES = {11, 13, 18, 73, 79, 100, 8000}


class StoreUnavailable(Exception):
    """MongoDB did not take the writes within the retry window; nothing can be said of which landed."""


class StoreMisconfigured(Exception):
    """MongoDB refuses Headwater's writes for a reason of the deployment (the message says which)."""


def refuses_deployment(code: int | None, message: str) -> bool:
    """Whether an error is about the deployment. FerretDB reports a PostgreSQL login that fails as an
    internal error (code 1) naming the authentication or its SQLSTATE 28xxx."""
    lowered = message.lower()
    return code in DEPLOYMENT_CODES or (code == 1 and ("authentication" in lowered or "sqlstate 28" in lowered))


def misconfigured(exc) -> StoreMisconfigured | None:
    """The StoreMisconfigured an OperationFailure stands for, if it is about the deployment."""
    if refuses_deployment(exc.code, str(exc)):
        return StoreMisconfigured(f"MongoDB error {exc.code}: {_short(str(exc))}")
    return None


@dataclass
class Refused:
    write: Write
    code: int
    detail: str


@dataclass
class Outcome:
    applied: int = 0
    stale: int = 0
    refused: list[Refused] = field(default_factory=list)
    retries: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # one per bulk command that succeeded
    held: list[Write] = field(default_factory=list)  # not sent: a write of their document was refused

    def add(self, other: Outcome) -> None:
        self.applied += other.applied
        self.stale += other.stale
        self.refused += other.refused
        self.retries += other.retries
        self.latencies_ms += other.latencies_ms


@dataclass
class Backoff:
    initial_s: float = 0.2
    cap_s: float = 10.0

    def delays(self):
        delay = self.initial_s
        while True:
            yield delay
            delay = min(self.cap_s, delay * 2)


def rounds(writes_per_document: list[list[Write]]) -> list[list[Write]]:
    """[[a1, a2], [b1]] -> [[a1, b1], [a2]]"""
    out: list[list[Write]] = []
    for writes in writes_per_document:
        for n, write in enumerate(writes):
            if n == len(out):
                out.append([])
            out[n].append(write)
    return out


class MongoWriter:
    def __init__(
        self,
        database,
        max_statements: int,
        backoff: Backoff | None = None,
        sleep=time.sleep,
        in_flight: int = 1,
        retry_window_s: float | None = None,
        clock=time.monotonic,
    ):
        self.database = database
        self.retry_window_s = retry_window_s
        self.clock = clock
        self.deadline: float | None = None
        self.max_statements = max_statements
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self.in_flight = in_flight
        self.pool = ThreadPoolExecutor(in_flight, thread_name_prefix="mongo-writer") if in_flight > 1 else None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    def chunks(self, batch: list[Write]) -> list[tuple[str, list[Write]]]:
        """One round's writes as (collection, writes) commands of at most `max_statements` statements."""
        by_collection: dict[str, list[Write]] = defaultdict(list)
        for write in batch:
            by_collection[write.collection].append(write)
        per_command = max(1, self.max_statements // STATEMENTS_PER_WRITE)
        return [
            (collection, writes[start : start + per_command])
            for collection, writes in sorted(by_collection.items())
            for start in range(0, len(writes), per_command)
        ]

    def available(self) -> bool:
        """Whether the server answers a ping (within the client's server selection timeout). Raises
        StoreMisconfigured when it answers that it will not take our writes (e.g. a failed login)."""
        from pymongo.errors import ConnectionFailure, OperationFailure

        try:
            self.database.command("ping")
            return True
        except OperationFailure as exc:
            if error := misconfigured(exc):
                raise error from None
            return False
        except ConnectionFailure:
            return False

    def apply(self, writes_per_document: list[list[Write]]) -> Outcome:
        """Write everything, or raise StoreUnavailable once the server has not answered for the retry
        window (some writes may have landed: they are version-gated, so writing them again is harmless)."""
        self.deadline = None if self.retry_window_s is None else self.clock() + self.retry_window_s
        outcome = Outcome()
        for batch in rounds(writes_per_document):
            # A document with a refused write gets none of its later writes: they would give it a version
            # with the refused change missing (parking.py).
            refused = {r.write.doc_id for r in outcome.refused}
            outcome.held += [w for w in batch if w.doc_id in refused]
            batch = [w for w in batch if w.doc_id not in refused]
            if not batch:
                continue
            chunks = self.chunks(batch)
            if self.pool is None or len(chunks) == 1:
                for collection, writes in chunks:
                    self._write_chunk(collection, writes, outcome)
                continue
            # Each command gets its own outcome (threads), added up in command order once all are done.
            outcomes = [Outcome() for _ in chunks]
            futures = [
                self.pool.submit(self._write_chunk, collection, writes, own)
                for (collection, writes), own in zip(chunks, outcomes)
            ]
            for future in futures:
                future.result()  # a bug in a command's handling fails the flush, as it would in one thread
            for own in outcomes:
                outcome.add(own)
        return outcome

    def _write_chunk(self, collection: str, writes: list[Write], outcome: Outcome) -> None:
        """One ordered `update` command for `writes` (two statements each, requests.py), retried until
        the server answers; after a refused write, the writes the server skipped are sent again."""
        from pymongo.errors import ConnectionFailure, OperationFailure

        delays = self.backoff.delays()
        while writes:
            command = {"update": collection, "updates": [s for w in writes for s in statements(w)], "ordered": True}
            started = time.monotonic()
            try:
                reply = self.database.command(command)
            except ConnectionFailure as exc:  # includes AutoReconnect, timeouts, server selection
                self._wait(next(delays), f"MongoDB unavailable ({type(exc).__name__}: {str(exc)[:160]})", outcome)
                continue
            except OperationFailure as exc:
                if error := misconfigured(exc):
                    raise error from None
                if exc.code in TRANSIENT_CODES or exc.has_error_label("RetryableWriteError"):
                    self._wait(next(delays), f"MongoDB error {exc.code}: {str(exc)[:160]}", outcome)
                    continue
                if len(writes) > 1:  # the whole command was refused: find the write(s) responsible
                    for write in writes:
                        self._write_chunk(collection, [write], outcome)
                    return
                outcome.refused.append(Refused(writes[0], exc.code or 0, str(exc)[:500]))
                return
            concern = reply.get("writeConcernError") or {}
            if refuses_deployment(concern.get("code"), concern.get("errmsg", "")):
                raise StoreMisconfigured(f"write concern error {concern.get('code')}: {concern.get('errmsg')}")
            if concern:
                self._wait(next(delays), f"write concern error: {reply['writeConcernError'].get('errmsg')}", outcome)
                continue
            outcome.latencies_ms.append((time.monotonic() - started) * 1000)
            errors = reply.get("writeErrors", [])
            if not errors:
                outcome.applied += reply.get("nModified", 0)
                outcome.stale += len(writes) - reply.get("nModified", 0)
                return
            # Ordered: the server stopped at the error. The write it names is refused; the ones
            # before it were done (MongoDB says how many changed; FerretDB 1.x does not: counted as
            # applied); the ones after it go again.
            failed = errors[0]["index"] // STATEMENTS_PER_WRITE
            outcome.refused.append(Refused(writes[failed], errors[0].get("code", 0), errors[0].get("errmsg", "")))
            changed = reply.get("nModified", failed)
            outcome.applied += changed
            outcome.stale += failed - changed
            writes = writes[failed + 1 :]

    def _wait(self, delay: float, why: str, outcome: Outcome) -> None:
        if self.deadline is not None and self.clock() + delay > self.deadline:
            raise StoreUnavailable(why)
        outcome.retries += 1
        log.info(f"reaction-streaming: {why}; retrying in {delay:.1f} s")  # stdout: see job.py
        self.sleep(delay)


def _short(message: str) -> str:
    """A server message without FerretDB's Go stack frames (`[file.go:12 pkg.Func] ...`)."""
    import re

    return re.sub(r"\[[\w./]+\.go:\d+ [^\]]*\]\s*", "", message)[:300]
