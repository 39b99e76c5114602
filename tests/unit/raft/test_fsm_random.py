"""Raft's safety properties under random partitions, loss, duplication, reordering,
crashes and restarts, for many seeds; then liveness once the faults heal."""

import pytest

from tests.unit.raft.fsm_cluster import run

SEEDS = range(100)


@pytest.mark.parametrize("size", [3, 5])
def test_safety_and_liveness_over_many_seeds(size):
    for seed in SEEDS:
        run(seed, size, events=1500)
