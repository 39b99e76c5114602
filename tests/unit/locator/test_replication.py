"""The vnode ring and the replication strategies, as properties."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.errors import ConfigError
from node.locator.replication import (NetworkTopologyStrategy, ReplicaMap, SimpleStrategy,
                                   strategy_from_options)
from node.dht.token import TOKEN_MAX, TOKEN_MIN
from node.locator.token_metadata import Endpoint, TokenMetadata

topologies = st.lists(
    st.tuples(st.sampled_from(["dc1", "dc2", "dc3"]), st.sampled_from(["r1", "r2", "r3"])),
    min_size=1, max_size=7)


def endpoints_of(topology):
    return [Endpoint(f"n{index + 1}", dc, rack) for index, (dc, rack) in enumerate(topology)]


@settings(max_examples=60, deadline=None)
@given(topology=topologies, rf=st.integers(1, 5), num_tokens=st.integers(1, 8),
       seed=st.integers(0, 1000))
def test_simple_strategy_replicas_are_distinct_and_min_rf_nodes(topology, rf, num_tokens, seed):
    endpoints = endpoints_of(topology)
    ring = TokenMetadata("c", endpoints, num_tokens)
    shuffled = endpoints[:]
    random.Random(seed).shuffle(shuffled)
    other = TokenMetadata("c", shuffled, num_tokens)
    strategy = SimpleStrategy(rf)
    first, second = ReplicaMap(ring, strategy), ReplicaMap(other, strategy)
    assert ring.tokens == other.tokens
    for replicas in first.by_vnode:
        assert len(set(replicas)) == len(replicas) == min(rf, len(endpoints))
    assert first.by_vnode == second.by_vnode
    assert sum(first.effective_ownership().values()) == pytest.approx(min(rf, len(endpoints)))


@settings(max_examples=60, deadline=None)
@given(topology=topologies, factors=st.dictionaries(st.sampled_from(["dc1", "dc2", "dc3"]),
                                                    st.integers(1, 4), min_size=1),
       seed=st.integers(0, 1000))
def test_network_topology_counts_per_dc_and_prefers_new_racks(topology, factors, seed):
    endpoints = endpoints_of(topology)
    shuffled = endpoints[:]
    random.Random(seed).shuffle(shuffled)
    strategy = NetworkTopologyStrategy(tuple(sorted(factors.items())))
    first = ReplicaMap(TokenMetadata("c", endpoints, 4), strategy)
    second = ReplicaMap(TokenMetadata("c", shuffled, 4), strategy)
    assert first.by_vnode == second.by_vnode
    by_name = {e.name: e for e in endpoints}
    for replicas in first.by_vnode:
        assert len(set(replicas)) == len(replicas)
        for dc, rf in factors.items():
            in_dc = [e for e in endpoints if e.dc == dc]
            chosen = [name for name in replicas if by_name[name].dc == dc]
            assert len(chosen) == min(rf, len(in_dc))
            racks = {e.rack for e in in_dc}
            # As many distinct racks as possible: min(replicas chosen, racks in the DC).
            assert len({by_name[n].rack for n in chosen}) == min(len(chosen), len(racks))


@settings(max_examples=200, deadline=None)
@given(token=st.integers(TOKEN_MIN, TOKEN_MAX), nodes=st.integers(1, 6))
def test_every_token_is_owned_by_exactly_one_vnode(token, nodes):
    ring = TokenMetadata("c", [Endpoint(f"n{i}", "dc1", "r1") for i in range(nodes)], 8)
    owning = [index for index, vnode in enumerate(ring.vnode_ranges()) if vnode.contains(token)]
    assert owning == [ring.vnode_index(token)]


def test_ownership_of_the_shipped_shape_is_balanced_and_sums_to_rf():
    ring = TokenMetadata("shardsim", [Endpoint(f"n{i}", "dc1", "rack1") for i in (1, 2, 3)], 16)
    ownership = ReplicaMap(ring, SimpleStrategy(1)).effective_ownership()
    assert sum(ownership.values()) == pytest.approx(1.0)
    assert max(ownership.values()) < 0.45  # pure random 16-vnode tokens can reach ~0.45


@pytest.mark.parametrize("options,message", [
    ({"class": "SimpleStrategy", "replication_factor": 0}, "at least 1"),
    ({"class": "SimpleStrategy", "replication_factor": -2}, "at least 1"),
    ({"class": "SimpleStrategy"}, "requires a replication_factor"),
    ({"class": "FancyStrategy", "replication_factor": 1}, "Unable to find"),
    ({"replication_factor": 1}, "Missing replication strategy class"),
    ({"class": "NetworkTopologyStrategy", "dc1": -1}, "must not be negative"),
    ({"class": "SimpleStrategy", "replication_factor": "x"}, "must be numeric"),
])
def test_bad_replication_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        strategy_from_options(options)


def test_strategy_class_names_are_accepted_in_cassandra_forms():
    long_name = "org.apache.cassandra.locator.NetworkTopologyStrategy"
    assert isinstance(strategy_from_options({"class": long_name, "dc1": 3}), NetworkTopologyStrategy)
    assert strategy_from_options({"class": "SimpleStrategy", "replication_factor": "2"}) == SimpleStrategy(2)
