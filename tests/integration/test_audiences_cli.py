"""`headwater audiences put|list|delete` against the real broker: a definition is written to the
compacted topic and listed back, a delete hides it, and a bad one is refused before anything is
written (docs/audiences.md)."""

import json

import pytest

from common.kafka.snapshot import read_to_end
from common.topics import topic
from harness.jobs import run_headwater

pytestmark = pytest.mark.integration

CONDITION = {"all": [{"attribute": "plan", "equals": "pro"}, {"event": "purchased", "at_least": 3, "days": 30}]}


def _headwater(env, *args):
    return run_headwater(env, "audiences", *args, timeout=120)


def test_put_list_delete_and_a_refusal(isolated_env):
    env, settings = isolated_env
    put = _headwater(env, "put", "--tenant", "acme", "--id", "big", "--condition", json.dumps(CONDITION))
    assert put.returncode == 0, put.stderr
    other = _headwater(
        env, "put", "--tenant", "globex", "--id", "lapsed", "--condition", '{"event": "app_opened", "none_in_days": 7}'
    )
    assert other.returncode == 0, other.stderr
    listed = _headwater(env, "list", "--tenant", "acme")
    assert (
        listed.returncode == 0
        and "big" in listed.stderr + listed.stdout
        and "lapsed" not in listed.stderr + listed.stdout
    )

    bad = _headwater(
        env, "put", "--tenant", "acme", "--id", "bad", "--condition", '{"attribute": "ltv", "min": 9, "max": 1}'
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "headwater: error: audience definition: the definition: min 9 is above max 1"
    ]
    records = list(read_to_end(settings, [topic(settings.topic_prefix, "audiences.config")]))
    assert sorted(key for _t, key, _v in records) == [b"acme:big", b"globex:lapsed"]  # nothing written for "bad"

    deleted = _headwater(env, "delete", "--tenant", "acme", "--id", "big")
    assert deleted.returncode == 0, deleted.stderr
    after = _headwater(env, "list")
    assert "big" not in after.stderr + after.stdout and "lapsed" in after.stderr + after.stdout
    missing = _headwater(env, "delete", "--tenant", "acme", "--id", "big")
    assert missing.returncode == 1 and "has no audience 'big'" in missing.stderr
