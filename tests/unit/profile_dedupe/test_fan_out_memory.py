"""Segment's out-of-memory incident (docs/profile-dedupe.md): one input fanned out to 150,000 outputs
while the comparator
held both paths' outputs in memory. Here the same input, comparator on, stays under a stated bound.

Bounds, on top of the destination config itself (150,000 destination instances, which the job's
broadcast state holds anyway): 16 MiB of Python allocations (tracemalloc), 64 MiB of growth of the
process's peak resident memory (which also sees RocksDB's native memory), and 8 MiB more for a second
such message (nothing accumulates). Measured: 1.8 MiB of Python allocations, about 40 MiB of resident
growth, a one-time cost of the spill database's library and buffers (docs/profile-dedupe.md)."""

import re
import time
import tracemalloc
from pathlib import Path

from common.contracts.profiles import ProfileIds
from common.contracts.rollout import Rollout
from common.log import get_logger
from jobs.profile_dedupe.comparator import ShadowComparator
from jobs.profile_dedupe.engine import DedupeEngine, DestinationIndex, DictStore
from jobs.profile_dedupe.process import MISMATCH, OUTBOUND, MessageOutcome
from tests.unit.profile_dedupe.scenario import ALL, destination, message

log = get_logger(__name__)

FAN_OUT = 150_000
PYTHON_BOUND_MIB, RSS_BOUND_MIB, REPEAT_BOUND_MIB = 16, 64, 8


def peak_rss() -> int:
    """VmHWM: the peak resident set of this process so far, in bytes."""
    return int(re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024


def test_one_input_to_150000_outputs_with_the_comparator_on_stays_bounded(tmp_path):
    index = DestinationIndex(
        {d.key: d for d in (destination(f"d-{i:06d}", None, kind="webhook") for i in range(FAN_OUT))}
    )
    index.connected("acme", "aud-1")  # build the index before measuring: it is config, not per-message memory
    engine = DedupeEngine(ShadowComparator(tmp_path, cap=10_000))
    profiles = DictStore()
    engine.on_profile(profiles, "p-1", ProfileIds(ALL))
    outcome = MessageOutcome()
    rss_before = peak_rss()
    tracemalloc.start()
    started = time.perf_counter()
    events = mismatches = destinations = 0
    for kind, record in engine.on_message(profiles, message(), index, Rollout(comparator=True), outcome):
        events += kind == OUTBOUND
        mismatches += kind == MISMATCH
        destinations += len(record.get("destinations", ()))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    elapsed = time.perf_counter() - started
    rss_growth = peak_rss() - rss_before
    log.info(
        f"\nfan-out {FAN_OUT:,}: {events} events, peak {peak / 2**20:.1f} MiB (Python), "
        f"peak RSS growth {rss_growth / 2**20:.1f} MiB, {elapsed:.1f} s, "
        f"comparator spills {engine.comparator.spills}, peak keys {engine.comparator.peak_keys}"
    )
    assert destinations == FAN_OUT and mismatches == 0
    assert events == FAN_OUT // 500
    assert outcome.branches == {"no_dedupes_on.send_all": FAN_OUT, "shadow.legacy.send_all": FAN_OUT}
    assert engine.comparator.peak_keys <= 10_000
    assert peak < PYTHON_BOUND_MIB * 2**20
    assert rss_growth < RSS_BOUND_MIB * 2**20
    rss_before = peak_rss()
    again = sum(
        1
        for _ in engine.on_message(
            profiles, message(message_id="m-2"), index, Rollout(comparator=True), MessageOutcome()
        )
    )
    assert again == events
    assert peak_rss() - rss_before < REPEAT_BOUND_MIB * 2**20
