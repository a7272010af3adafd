"""`headwater produce --generate`: the same seed gives byte-identical records (times from a fixed epoch),
and --tenants keeps to the tenants named."""

from __future__ import annotations

import json

import pytest

from cli.produce import GENERATOR_EPOCH_MS, ProduceError, generated_records, produce_generated
from common import config


def records(source, seed, **options):
    return [
        value for _key, value in generated_records(source, 200, seed=seed, arrival_ms=GENERATOR_EPOCH_MS, **options)
    ]


@pytest.mark.parametrize("source", ["sdk", "api", "partner", "csv"])
def test_the_same_seed_gives_the_same_bytes(source):
    assert records(source, 7) == records(source, 7)
    assert records(source, 7) != records(source, 8)
    assert records(source, 7, invalid_share=0.3) == records(source, 7, invalid_share=0.3)


@pytest.mark.parametrize("source", ["sdk", "api", "partner", "csv"])
def test_tenants_keep_to_the_ones_named(source):
    keys = {
        json.loads(v).get("write_key") or json.loads(v).get("writeKey") for v in records(source, 3, tenants=("globex",))
    }
    assert keys == {"wk_globex_live"}


def test_an_unknown_tenant_is_refused_with_the_known_ones():
    with pytest.raises(ProduceError, match=r"--tenants: no demo write key for nobody; the generator writes for acme"):
        produce_generated(config.load({}), "sdk", 1, seed=1, tenants=("nobody",))
