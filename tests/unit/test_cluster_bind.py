"""`headwater cluster up --bind ADDRESS`: every process binds and advertises one address; loopback unless
asked, and never a wildcard (the address is also what the processes tell each other)."""

from __future__ import annotations

import pytest

from common import config
from infra.stack import flink_cluster
from infra.stack.process import StackError


def test_loopback_by_default_and_every_address_key_moves_together():
    assert not set(flink_cluster.ClusterSize().overrides()) & set(flink_cluster.BIND_KEYS)
    moved = flink_cluster.ClusterSize(bind="10.0.0.5").overrides()
    assert {key: moved[key] for key in flink_cluster.BIND_KEYS} == dict.fromkeys(flink_cluster.BIND_KEYS, "10.0.0.5")


@pytest.mark.parametrize(
    ("text", "message"),
    [("flink.internal", "give an IP address"), ("0.0.0.0", "wildcard"), ("::", "wildcard")],
)
def test_a_bind_address_is_one_ip_of_this_host(text, message):
    with pytest.raises(StackError, match=message):
        flink_cluster.bind_address(text)
    assert flink_cluster.bind_address("192.168.1.20") == "192.168.1.20"


def test_headwater_flink_must_name_the_bound_address(tmp_path):
    settings = config.load({"HEADWATER_DATA_DIR": str(tmp_path)})  # HEADWATER_FLINK: 127.0.0.1
    with pytest.raises(StackError, match=r"listens on 10.0.0.5 only.*HEADWATER_FLINK at http://10.0.0.5:18081"):
        flink_cluster.cluster_services(settings, flink_cluster.ClusterSize(bind="10.0.0.5"))
    moved = config.load({"HEADWATER_DATA_DIR": str(tmp_path), "HEADWATER_FLINK": "http://10.0.0.5:18081"})
    services = flink_cluster.cluster_services(moved, flink_cluster.ClusterSize(taskmanagers=2, bind="10.0.0.5"))
    assert [s.host for s in services] == ["10.0.0.5"] * 3
