"""Consistency levels: required answers and Unavailable, as Cassandra computes them."""

import pytest

from coordinator.service.consistency import (check_available, is_satisfied, parse_level, received,
                                     requirement)
from node.errors import Invalid, Unavailable
from node.locator.replication import NetworkTopologyStrategy, SimpleStrategy

DC = {"a1": "dc1", "a2": "dc1", "a3": "dc1", "b1": "dc2", "b2": "dc2", "b3": "dc2"}
RF3 = SimpleStrategy(3)
NTS = NetworkTopologyStrategy((("dc1", 3), ("dc2", 3)))


@pytest.mark.parametrize("level,needed", [("ONE", 1), ("TWO", 2), ("THREE", 3), ("QUORUM", 2),
                                          ("ALL", 3), ("LOCAL_ONE", 1), ("LOCAL_QUORUM", 2),
                                          ("ANY", 1)])
def test_simple_strategy_rf3_requirements(level, needed):
    assert requirement(level, RF3, "dc1").total == needed


@pytest.mark.parametrize("down", [0, 1, 2, 3])
@pytest.mark.parametrize("level", ["ONE", "TWO", "THREE", "QUORUM", "ALL"])
def test_unavailable_exactly_when_too_few_replicas_live(level, down):
    needed = requirement(level, RF3, "dc1").total
    live = ["a1", "a2", "a3"][down:]
    if len(live) >= needed:
        check_available(requirement(level, RF3, "dc1"), live, DC)
    else:
        with pytest.raises(Unavailable) as caught:
            check_available(requirement(level, RF3, "dc1"), live, DC)
        assert caught.value.details == {"consistency": level, "required": needed, "alive": len(live)}


def test_any_is_available_with_every_replica_down():
    check_available(requirement("ANY", RF3, "dc1"), [], DC)


def test_quorum_over_two_dcs_counts_every_dc():
    assert requirement("QUORUM", NTS, "dc1").total == 4
    check_available(requirement("QUORUM", NTS, "dc1"), ["a1", "b1", "b2", "b3"], DC)


def test_local_quorum_counts_only_the_local_dc():
    need = requirement("LOCAL_QUORUM", NTS, "dc1")
    assert need.total == 2
    check_available(need, ["a1", "a2"], DC)
    with pytest.raises(Unavailable) as caught:
        check_available(need, ["a1", "b1", "b2", "b3"], DC)
    assert caught.value.details["alive"] == 1
    assert not is_satisfied(need, ["a1", "b1", "b2"], DC)
    assert is_satisfied(need, ["a1", "a3"], DC)


def test_each_quorum_needs_a_quorum_in_every_dc():
    need = requirement("EACH_QUORUM", NTS, "dc1")
    check_available(need, ["a1", "a2", "b1", "b3"], DC)
    with pytest.raises(Unavailable) as caught:
        check_available(need, ["a1", "a2", "a3", "b1"], DC)
    assert caught.value.details == {"consistency": "EACH_QUORUM", "required": 2, "alive": 1}
    assert not is_satisfied(need, ["a1", "a2", "a3", "b1"], DC)
    assert is_satisfied(need, ["a1", "a2", "b1", "b2"], DC)
    assert received(need, ["a1", "a2", "a3", "b1"], DC) == 3


def test_level_names_are_checked():
    assert parse_level("quorum", for_write=False) == "QUORUM"
    for bad, for_write in (("FOO", True), (3, True), ("ANY", False), ("EACH_QUORUM", False),
                           ("SERIAL", True)):
        with pytest.raises(Invalid):
            parse_level(bad, for_write=for_write)
