"""ResolveAndFold over batches, with a state cache far smaller than the state: the records it writes
are, per topic and key, exactly the pure rules' (process_action over in-memory state). So the cache
(evictions, writes held until the end of a batch, removes) never changes a decision."""

from __future__ import annotations

import random
import struct
from collections import defaultdict

import pytest

from common.contracts.tenants import load_registry
from common.serde import frames
from common.serde.avro import AvroCodec
from harness.flink_fake import OperatorDriver
from harness.models.action import expected_outputs, mixed_action
from jobs.action_streaming.operators import ResolveAndFold
from jobs.action_streaming.records import FRAME_TOPICS
from jobs.action_streaming.settings import ActionSettings
from jobs.api_unification.records import encode_action

CODEC = AvroCodec()


@pytest.mark.parametrize("cache, seed", [(1, 1), (7, 2), (50_000, 3)])
def test_batches_through_a_small_cache_write_what_the_rules_write(cache, seed):
    rng = random.Random(seed)
    tenants = ("acme", "globex")
    actions = [mixed_action(rng, seq, tenants, users=60) for seq in range(1_500)]
    operator = ResolveAndFold(load_registry(), None, ActionSettings(state_cache=cache, frame_records=7))
    driver = OperatorDriver(operator)
    got = defaultdict(list)
    pending = {tenant: [a for a in actions if a.tenant == tenant] for tenant in tenants}
    while any(pending.values()):  # batches of random sizes, tenants interleaved as Java would flush them
        tenant = rng.choice([t for t in tenants if pending[t]])
        size = rng.randint(1, 40)
        batch, pending[tenant] = pending[tenant][:size], pending[tenant][size:]
        frame = frames.pack([(0, struct.pack(">q", a.time_ms), encode_action(CODEC, a, a.time_ms)[1]) for a in batch])
        for out in driver.element(frame, key=tenant, timestamp=0):
            records = list(frames.unpack(bytes(out)))
            assert len(records) <= 7
            for output, key, value in records:
                got[(FRAME_TOPICS[output], key)].append(value)
    assert dict(got) == expected_outputs([actions])[0]
