"""NetworkFaults: the admin endpoint's JSON shape in and out, validation, determinism."""

import random

import pytest

from node.errors import Invalid
from node.rpc.faults import NetworkFaults


def test_apply_then_describe_gives_back_the_admin_shape():
    faults = NetworkFaults("n1")
    faults.apply({"partition": ["n2"], "delay_ms": {"n3": 50}, "drop_probability": {"n3": 0.1},
                  "disk_fail_writes": True})
    assert faults.describe() == {"partition": ["n2"], "delay_ms": {"n3": 50.0},
                                 "delay_jitter_ms": {}, "drop_probability": {"n3": 0.1}}


def test_apply_replaces_only_the_sections_present():
    faults = NetworkFaults("n1")
    faults.apply({"partition": ["n2"], "delay_ms": {"n3": 50}})
    faults.apply({"partition": []})
    assert faults.describe()["partition"] == [] and faults.describe()["delay_ms"] == {"n3": 50.0}
    faults.clear()
    assert faults.is_clear()


@pytest.mark.parametrize("body", [
    {"partition": "n2"}, {"partition": ["n1"]}, {"delay_ms": {"n2": -1}},
    {"drop_probability": {"n2": 1.5}}, {"drop_probability": {"n2": True}}, {"latency": 5},
    {"seed": "x"}, ["n2"],
])
def test_malformed_faults_are_invalid_and_change_nothing(body):
    faults = NetworkFaults("n1")
    faults.apply({"partition": ["n3"]})
    with pytest.raises(Invalid):
        faults.apply(body)
    assert faults.describe()["partition"] == ["n3"]


def test_partition_drops_both_ways_and_only_for_the_named_node():
    faults = NetworkFaults("n1")
    faults.apply({"partition": ["n2"]})
    assert faults.outgoing_delay_s("n2") is None and not faults.accepts_from("n2")
    assert faults.outgoing_delay_s("n3") == 0.0 and faults.accepts_from("n3")
    assert faults.dropped == 2


def test_delay_with_jitter_stays_within_its_bounds_and_replays_from_the_seed():
    def draws(seed):
        faults = NetworkFaults("n1")
        faults.apply({"delay_ms": {"n2": 50}, "delay_jitter_ms": {"n2": 10}, "seed": seed})
        return [faults.outgoing_delay_s("n2") for _ in range(100)]

    first = draws(3)
    assert all(0.04 <= delay <= 0.06 for delay in first)
    assert draws(3) == first and draws(4) != first


def test_drop_probability_uses_the_seeded_random():
    faults = NetworkFaults("n1", seed=11)
    faults.apply({"drop_probability": {"n2": 0.3}})
    replay = random.Random(11)
    expected = [None if replay.random() < 0.3 else 0.0 for _ in range(200)]
    assert [faults.outgoing_delay_s("n2") for _ in range(200)] == expected
